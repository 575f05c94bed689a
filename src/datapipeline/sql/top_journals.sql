-- The journal(s) mentioning the most distinct drugs, every tie: journal, drugs.
-- Over the graph's tables (datapipeline run writes them beside graph.json and into the lake as
-- graph_nodes and graph_edges; datapipeline load puts them in the warehouse). A journal
-- mentions a drug when an edge runs from the drug to the journal (one per date of mention):
-- PubMed articles and clinical trials both count. No journal mentioning a drug: no row.
-- Portable as written: runs unchanged on DuckDB, PostgreSQL and BigQuery.
WITH counts AS (
    SELECT e.target AS journal_id, COUNT(DISTINCT e.source) AS drugs
    FROM graph_edges AS e
    WHERE e.target_type = 'journal'
    GROUP BY e.target
)
SELECT n.name AS journal, c.drugs AS drugs
FROM counts AS c
JOIN graph_nodes AS n ON n.id = c.journal_id
WHERE c.drugs = (SELECT MAX(drugs) FROM counts)
ORDER BY journal;
