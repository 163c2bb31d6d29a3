-- 0005: one home for the signed rows a statement-level trigger passes to its delta SQL.
--
-- The aggregate triggers of 0002 and 0003 each chose their transition tables with the same
-- CASE TG_OP: an INSERT adds its new rows (sign 1), a DELETE subtracts its old rows (sign -1),
-- an UPDATE does both. analytics.changed_rows_sql(TG_OP) is that choice, written once; the
-- trigger functions are re-created to call it, with the same delta SQL and the same triggers,
-- so their results are unchanged. A future aggregate's trigger function is then
-- `EXECUTE analytics.its_delta_sql(analytics.changed_rows_sql(TG_OP))`, with its triggers
-- declaring `new_rows` / `old_rows` as below.

CREATE OR REPLACE FUNCTION analytics.changed_rows_sql(op text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    CASE op
        WHEN 'INSERT' THEN RETURN 'SELECT 1 AS sign, n.* FROM new_rows n';
        WHEN 'DELETE' THEN RETURN 'SELECT -1 AS sign, o.* FROM old_rows o';
        WHEN 'UPDATE' THEN RETURN
            'SELECT 1 AS sign, n.* FROM new_rows n UNION ALL SELECT -1 AS sign, o.* FROM old_rows o';
        ELSE
            -- TRUNCATE has no transition tables: a trigger that fires on it handles it itself.
            RAISE EXCEPTION 'analytics.changed_rows_sql: no changed rows for %', op;
    END CASE;
END
$fn$;

-- Trades -> pnl_daily, pnl_by_day, ops.positions (0002).
CREATE OR REPLACE FUNCTION analytics.apply_trade_changes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE analytics.trade_delta_sql(analytics.changed_rows_sql(TG_OP));
    RETURN NULL;
END
$fn$;

-- Signals -> signal_daily (0002; its triggers fire on INSERT and DELETE only).
CREATE OR REPLACE FUNCTION analytics.apply_signal_changes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE analytics.signal_delta_sql(analytics.changed_rows_sql(TG_OP));
    RETURN NULL;
END
$fn$;

-- pnl_daily -> pnl_city_day, pnl_strategy_day (0003).
CREATE OR REPLACE FUNCTION analytics.roll_up_pnl() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE analytics.pnl_city_day, analytics.pnl_strategy_day;
        RETURN NULL;
    END IF;
    EXECUTE analytics.pnl_rollup_sql(analytics.changed_rows_sql(TG_OP));
    RETURN NULL;
END
$fn$;

-- signal_daily -> signal_strategy_day (0003).
CREATE OR REPLACE FUNCTION analytics.roll_up_signals() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE analytics.signal_strategy_day;
        RETURN NULL;
    END IF;
    EXECUTE analytics.signal_rollup_sql(analytics.changed_rows_sql(TG_OP));
    RETURN NULL;
END
$fn$;
