-- 0003: what the analytics queries need beyond 0002.
--
-- 1. Roll-ups of the 0002 pre-aggregates. analytics.pnl_daily has a row per settlement day,
--    city and strategy, so a 30-day window is ~1,200 rows, each summed over ten columns - the
--    bulk of a city or strategy query's time. The roll-ups hold the same sums per day and city
--    (pnl_city_day) and per day and strategy (pnl_strategy_day, signal_strategy_day): 300 and
--    120 rows a window. They are kept by statement-level triggers on the 0002 tables, in the
--    same transaction as the write that changed those (so they are exactly the sums of their
--    rows: integer money adds exactly); TRUNCATE of a source (rebuild_aggregates, the data
--    generator) empties them, and the INSERT or COPY that refills the source fills them again
--    in one grouped pass.
-- 2. An index for calibration by strategy (signal_daily's key leads with the day).
-- 3. The public feed's order moves into the view (see the view below).

CREATE TABLE IF NOT EXISTS analytics.pnl_city_day (
    event_date            date NOT NULL,
    city_code             text NOT NULL,
    trades                bigint NOT NULL DEFAULT 0,
    contracts             bigint NOT NULL DEFAULT 0,
    realized_trades       bigint NOT NULL DEFAULT 0,
    realized_cost_cents   bigint NOT NULL DEFAULT 0,
    gross_pnl_cents       bigint NOT NULL DEFAULT 0,
    fees_cents            bigint NOT NULL DEFAULT 0,
    net_pnl_cents         bigint NOT NULL DEFAULT 0,
    wins                  bigint NOT NULL DEFAULT 0,
    losses                bigint NOT NULL DEFAULT 0,
    open_exposure_cents   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_date, city_code)
);

CREATE TABLE IF NOT EXISTS analytics.pnl_strategy_day (
    strategy_id           smallint NOT NULL,
    event_date            date NOT NULL,
    trades                bigint NOT NULL DEFAULT 0,
    realized_trades       bigint NOT NULL DEFAULT 0,
    net_pnl_cents         bigint NOT NULL DEFAULT 0,
    wins                  bigint NOT NULL DEFAULT 0,
    losses                bigint NOT NULL DEFAULT 0,
    gross_profit_cents    bigint NOT NULL DEFAULT 0,
    gross_loss_cents      bigint NOT NULL DEFAULT 0,
    edge_sum              double precision NOT NULL DEFAULT 0,
    edge_n                bigint NOT NULL DEFAULT 0,
    settled_edge_cents    bigint NOT NULL DEFAULT 0,
    settled_edge_n        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (strategy_id, event_date)
);

CREATE TABLE IF NOT EXISTS analytics.signal_strategy_day (
    strategy_id  smallint NOT NULL,
    event_date   date NOT NULL,
    signals      bigint NOT NULL DEFAULT 0,
    settled_n    bigint NOT NULL DEFAULT 0,
    sq_err_sum   double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (strategy_id, event_date)
);

-- The upserts that add the signed rows `src` yields (sign, then pnl_daily's columns).
CREATE OR REPLACE FUNCTION analytics.pnl_rollup_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH d AS (%s),
        by_city AS (
            INSERT INTO analytics.pnl_city_day AS r (
                event_date, city_code, trades, contracts, realized_trades, realized_cost_cents,
                gross_pnl_cents, fees_cents, net_pnl_cents, wins, losses, open_exposure_cents)
            SELECT event_date, city_code, sum(sign * trades), sum(sign * contracts),
                   sum(sign * realized_trades), sum(sign * realized_cost_cents),
                   sum(sign * gross_pnl_cents), sum(sign * fees_cents), sum(sign * net_pnl_cents),
                   sum(sign * wins), sum(sign * losses), sum(sign * open_exposure_cents)
            FROM d GROUP BY event_date, city_code
            ORDER BY event_date, city_code
            ON CONFLICT (event_date, city_code) DO UPDATE SET
                trades = r.trades + EXCLUDED.trades,
                contracts = r.contracts + EXCLUDED.contracts,
                realized_trades = r.realized_trades + EXCLUDED.realized_trades,
                realized_cost_cents = r.realized_cost_cents + EXCLUDED.realized_cost_cents,
                gross_pnl_cents = r.gross_pnl_cents + EXCLUDED.gross_pnl_cents,
                fees_cents = r.fees_cents + EXCLUDED.fees_cents,
                net_pnl_cents = r.net_pnl_cents + EXCLUDED.net_pnl_cents,
                wins = r.wins + EXCLUDED.wins,
                losses = r.losses + EXCLUDED.losses,
                open_exposure_cents = r.open_exposure_cents + EXCLUDED.open_exposure_cents
            RETURNING 1
        )
        INSERT INTO analytics.pnl_strategy_day AS r (
            strategy_id, event_date, trades, realized_trades, net_pnl_cents, wins, losses,
            gross_profit_cents, gross_loss_cents, edge_sum, edge_n, settled_edge_cents,
            settled_edge_n)
        SELECT strategy_id, event_date, sum(sign * trades), sum(sign * realized_trades),
               sum(sign * net_pnl_cents), sum(sign * wins), sum(sign * losses),
               sum(sign * gross_profit_cents), sum(sign * gross_loss_cents), sum(sign * edge_sum),
               sum(sign * edge_n), sum(sign * settled_edge_cents), sum(sign * settled_edge_n)
        FROM d GROUP BY strategy_id, event_date
        ORDER BY strategy_id, event_date
        ON CONFLICT (strategy_id, event_date) DO UPDATE SET
            trades = r.trades + EXCLUDED.trades,
            realized_trades = r.realized_trades + EXCLUDED.realized_trades,
            net_pnl_cents = r.net_pnl_cents + EXCLUDED.net_pnl_cents,
            wins = r.wins + EXCLUDED.wins,
            losses = r.losses + EXCLUDED.losses,
            gross_profit_cents = r.gross_profit_cents + EXCLUDED.gross_profit_cents,
            gross_loss_cents = r.gross_loss_cents + EXCLUDED.gross_loss_cents,
            edge_sum = r.edge_sum + EXCLUDED.edge_sum,
            edge_n = r.edge_n + EXCLUDED.edge_n,
            settled_edge_cents = r.settled_edge_cents + EXCLUDED.settled_edge_cents,
            settled_edge_n = r.settled_edge_n + EXCLUDED.settled_edge_n
    $q$, src)
$fn$;

CREATE OR REPLACE FUNCTION analytics.signal_rollup_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH d AS (%s)
        INSERT INTO analytics.signal_strategy_day AS r (
            strategy_id, event_date, signals, settled_n, sq_err_sum)
        SELECT strategy_id, event_date, sum(sign * signals), sum(sign * settled_n),
               sum(sign * sq_err_sum)
        FROM d GROUP BY strategy_id, event_date
        ORDER BY strategy_id, event_date
        ON CONFLICT (strategy_id, event_date) DO UPDATE SET
            signals = r.signals + EXCLUDED.signals,
            settled_n = r.settled_n + EXCLUDED.settled_n,
            sq_err_sum = r.sq_err_sum + EXCLUDED.sq_err_sum
    $q$, src)
$fn$;

-- One trigger function per source: TG_OP picks the transition tables (an INSERT ... ON
-- CONFLICT DO UPDATE fires both the INSERT and the UPDATE statement triggers).
CREATE OR REPLACE FUNCTION analytics.roll_up_pnl() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE analytics.pnl_city_day, analytics.pnl_strategy_day;
        RETURN NULL;
    END IF;
    EXECUTE analytics.pnl_rollup_sql(CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, o.* FROM old_rows o'
        ELSE 'SELECT 1 AS sign, n.* FROM new_rows n UNION ALL SELECT -1 AS sign, o.* FROM old_rows o'
    END);
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION analytics.roll_up_signals() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE analytics.signal_strategy_day;
        RETURN NULL;
    END IF;
    EXECUTE analytics.signal_rollup_sql(CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, o.* FROM old_rows o'
        ELSE 'SELECT 1 AS sign, n.* FROM new_rows n UNION ALL SELECT -1 AS sign, o.* FROM old_rows o'
    END);
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS pnl_daily_rollup_insert ON analytics.pnl_daily;
CREATE TRIGGER pnl_daily_rollup_insert AFTER INSERT ON analytics.pnl_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_pnl();
DROP TRIGGER IF EXISTS pnl_daily_rollup_update ON analytics.pnl_daily;
CREATE TRIGGER pnl_daily_rollup_update AFTER UPDATE ON analytics.pnl_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_pnl();
DROP TRIGGER IF EXISTS pnl_daily_rollup_delete ON analytics.pnl_daily;
CREATE TRIGGER pnl_daily_rollup_delete AFTER DELETE ON analytics.pnl_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_pnl();
DROP TRIGGER IF EXISTS pnl_daily_rollup_truncate ON analytics.pnl_daily;
CREATE TRIGGER pnl_daily_rollup_truncate AFTER TRUNCATE ON analytics.pnl_daily
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_pnl();

DROP TRIGGER IF EXISTS signal_daily_rollup_insert ON analytics.signal_daily;
CREATE TRIGGER signal_daily_rollup_insert AFTER INSERT ON analytics.signal_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_signals();
DROP TRIGGER IF EXISTS signal_daily_rollup_update ON analytics.signal_daily;
CREATE TRIGGER signal_daily_rollup_update AFTER UPDATE ON analytics.signal_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_signals();
DROP TRIGGER IF EXISTS signal_daily_rollup_delete ON analytics.signal_daily;
CREATE TRIGGER signal_daily_rollup_delete AFTER DELETE ON analytics.signal_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_signals();
DROP TRIGGER IF EXISTS signal_daily_rollup_truncate ON analytics.signal_daily;
CREATE TRIGGER signal_daily_rollup_truncate AFTER TRUNCATE ON analytics.signal_daily
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_signals();

-- Fill the roll-ups from what a database already holds (a no-op on a new one).
TRUNCATE analytics.pnl_city_day, analytics.pnl_strategy_day, analytics.signal_strategy_day;
DO $do$
BEGIN
    EXECUTE analytics.pnl_rollup_sql('SELECT 1 AS sign, p.* FROM analytics.pnl_daily p');
    EXECUTE analytics.signal_rollup_sql('SELECT 1 AS sign, s.* FROM analytics.signal_daily s');
END
$do$;

-- Calibration of one strategy reads signal_daily by strategy over a range of days; its key
-- leads with event_date.
CREATE INDEX IF NOT EXISTS signal_daily_strategy_idx
    ON analytics.signal_daily (strategy_id, event_date);

-- The public feed, newest first. A security-barrier view is planned as a separate subquery,
-- so a reader's ORDER BY ... LIMIT cannot reach the index through it: PostgreSQL plans the
-- subquery for full retrieval and sorts every visible trade (over a second at 1M trades). With
-- the order inside the view, the subquery itself walks trades_created_idx (or, given a city,
-- trades_city_created_idx) newest first and stops at the reader's LIMIT; the reader's filters
-- (city, side, the keyset cursor) are leakproof and still pushed down as index conditions.
-- Same columns and the same delay rule as 0002; only the ORDER BY is new.
CREATE OR REPLACE VIEW analytics.public_trades WITH (security_barrier = true) AS
SELECT t.created_at                       AS executed_at,
       t.id                               AS seq,
       date_trunc('minute', t.created_at) AS time,
       t.city_code                        AS city,
       t.ticker,
       t.side,
       t.action,
       t.quantity,
       t.price                            AS price_cents
FROM ops.trades t
WHERE t.created_at <= now() - make_interval(mins => (SELECT delay_minutes FROM analytics.disclosure))
ORDER BY t.created_at DESC, t.id DESC;
