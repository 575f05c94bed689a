-- The drugs mentioned in PubMed articles of the journals that mention one drug in PubMed
-- articles (clinical trials count on neither side): drug, related.
-- Parameter $drug_key: the drug's name in the pipeline's normal form for matching (accents
-- and case removed; `datapipeline related-drugs` computes it), compared with the match_name
-- the pipeline stores for each drug node. One row per related drug, sorted; one row with a
-- null related when none is; no row when no drug has that name.
-- Over the graph's tables (graph_nodes, graph_edges: see top_journals.sql). Portable as
-- written: DuckDB binds $drug_key; datapipeline.sql_queries.bind() turns it into @drug_key
-- for BigQuery (and the tests into a psql variable for PostgreSQL).
WITH drug AS (
    SELECT n.id, n.name
    FROM graph_nodes AS n
    WHERE n.type = 'drug' AND n.match_name = $drug_key
    ORDER BY n.id
    LIMIT 1
),
drug_journals AS (
    SELECT DISTINCT p.journal
    FROM graph_edges AS e
    JOIN drug AS d ON e.source = d.id
    JOIN graph_nodes AS p ON p.id = e.target
    WHERE e.target_type = 'pubmed' AND p.type = 'pubmed' AND p.journal <> ''
),
related AS (
    SELECT DISTINCT e.source
    FROM graph_edges AS e
    JOIN graph_nodes AS p ON p.id = e.target
    JOIN drug_journals AS j ON j.journal = p.journal
    WHERE e.target_type = 'pubmed' AND p.type = 'pubmed'
      AND e.source <> (SELECT id FROM drug)
),
related_names AS (
    SELECT n.name
    FROM related AS r
    JOIN graph_nodes AS n ON n.id = r.source
)
SELECT d.name AS drug, r.name AS related
FROM drug AS d
LEFT JOIN related_names AS r ON TRUE
ORDER BY related;
