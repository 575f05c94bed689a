-- Query 2: furniture and decoration revenue per client over calendar year 2020.
-- One row per client with at least one sale from 2020-01-01 to 2020-12-31 inclusive;
-- a product type the client did not buy counts 0 (never NULL).
-- Revenue = sum of unit price times quantity, split on PRODUCT_NOMENCLATURE.product_type
-- ('MEUBLE' = furniture, 'DECO' = decoration).
-- Portable as written: runs unchanged on BigQuery, PostgreSQL and DuckDB.
SELECT
    t.client_id AS client_id,
    SUM(CASE WHEN p.product_type = 'MEUBLE' THEN t.prod_price * t.prod_qty ELSE 0 END)
        AS ventes_meuble,
    SUM(CASE WHEN p.product_type = 'DECO' THEN t.prod_price * t.prod_qty ELSE 0 END)
        AS ventes_deco
FROM TRANSACTIONS AS t
INNER JOIN PRODUCT_NOMENCLATURE AS p
    ON t.prod_id = p.product_id
WHERE t.date BETWEEN DATE '2020-01-01' AND DATE '2020-12-31'
GROUP BY t.client_id
ORDER BY t.client_id;
