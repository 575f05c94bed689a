-- Query 1: daily revenue over calendar year 2019.
-- One row per day that has at least one sale, from 2019-01-01 to 2019-12-31 inclusive.
-- Revenue ("ventes") = sum of unit price times quantity.
-- Portable as written: runs unchanged on BigQuery, PostgreSQL and DuckDB
-- (table names stay unquoted and upper case as in the specification, since
-- BigQuery table names are case-sensitive; the column "date" needs no quoting).
SELECT
    t.date AS date,
    SUM(t.prod_price * t.prod_qty) AS ventes
FROM TRANSACTIONS AS t
WHERE t.date BETWEEN DATE '2019-01-01' AND DATE '2019-12-31'
GROUP BY t.date
ORDER BY t.date;
