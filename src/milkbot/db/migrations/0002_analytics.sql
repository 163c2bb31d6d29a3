-- 0002: pre-aggregates the analytics read (schema analytics), kept exact by statement-level
-- triggers on ops.trades, ops.signals and ops.markets. Each trade contributes a pure function of
-- its own row; an INSERT adds it, a DELETE subtracts it, an UPDATE subtracts the old and adds the
-- new. The triggers run in the writer's transaction, so a reader never sees a trade without its
-- effect, and a COPY of millions of rows costs one grouped pass over its transition table.

CREATE SCHEMA IF NOT EXISTS analytics;

-- Per settlement day, city and strategy. Money in cents.
--   trades/contracts: every trade; buy_cost_cents: price*quantity of every buy.
--   realized_*: trades whose P&L is realised (sells at once, buys when their market settles);
--   gross/fees/net cover those only; wins/losses count realised trades by the sign of net.
--   open_exposure_cents: price*open_qty of buys not yet settled.
--   edge_*: model probability minus price (dollars) at entry; settled_edge_*: payout minus price
--   (cents) of settled buys, i.e. realised edge.
CREATE TABLE IF NOT EXISTS analytics.pnl_daily (
    event_date            date NOT NULL,
    city_code             text NOT NULL,
    strategy_id           smallint NOT NULL,
    trades                bigint NOT NULL DEFAULT 0,
    contracts             bigint NOT NULL DEFAULT 0,
    buy_cost_cents        bigint NOT NULL DEFAULT 0,
    realized_trades       bigint NOT NULL DEFAULT 0,
    realized_cost_cents   bigint NOT NULL DEFAULT 0,
    gross_pnl_cents       bigint NOT NULL DEFAULT 0,
    fees_cents            bigint NOT NULL DEFAULT 0,
    net_pnl_cents         bigint NOT NULL DEFAULT 0,
    wins                  bigint NOT NULL DEFAULT 0,
    losses                bigint NOT NULL DEFAULT 0,
    gross_profit_cents    bigint NOT NULL DEFAULT 0,
    gross_loss_cents      bigint NOT NULL DEFAULT 0,
    open_exposure_cents   bigint NOT NULL DEFAULT 0,
    edge_sum              double precision NOT NULL DEFAULT 0,
    edge_n                bigint NOT NULL DEFAULT 0,
    settled_edge_cents    bigint NOT NULL DEFAULT 0,
    settled_edge_n        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_date, city_code, strategy_id)
);
CREATE INDEX IF NOT EXISTS pnl_daily_strategy_idx ON analytics.pnl_daily (strategy_id, event_date);

-- The same measures per settlement day only (the equity curve reads every day since inception).
CREATE TABLE IF NOT EXISTS analytics.pnl_by_day (
    event_date            date PRIMARY KEY,
    trades                bigint NOT NULL DEFAULT 0,
    contracts             bigint NOT NULL DEFAULT 0,
    realized_trades       bigint NOT NULL DEFAULT 0,
    gross_pnl_cents       bigint NOT NULL DEFAULT 0,
    fees_cents            bigint NOT NULL DEFAULT 0,
    net_pnl_cents         bigint NOT NULL DEFAULT 0,
    wins                  bigint NOT NULL DEFAULT 0,
    losses                bigint NOT NULL DEFAULT 0
);

-- Signals per settlement day, strategy and probability decile (bucket 0..9). The settled_* and
-- *_sum columns cover signals on settled markets (outcome 1 = the market settled YES): the
-- Brier score is sq_err_sum / settled_n, and per bucket prob_sum/settled_n against
-- outcome_sum/settled_n is the calibration curve.
CREATE TABLE IF NOT EXISTS analytics.signal_daily (
    event_date   date NOT NULL,
    strategy_id  smallint NOT NULL,
    bucket       smallint NOT NULL CHECK (bucket BETWEEN 0 AND 9),
    signals      bigint NOT NULL DEFAULT 0,
    settled_n    bigint NOT NULL DEFAULT 0,
    prob_sum     double precision NOT NULL DEFAULT 0,
    outcome_sum  bigint NOT NULL DEFAULT 0,
    sq_err_sum   double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (event_date, strategy_id, bucket)
);

-- When the pre-aggregates last changed (the health check's "analytics freshness").
CREATE TABLE IF NOT EXISTS analytics.freshness (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO analytics.freshness (id) VALUES (true) ON CONFLICT (id) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Trades -> pnl_daily, pnl_by_day, ops.positions
-- The upsert that adds the contribution of the rows `src` yields (columns: sign, then those of
-- ops.trades) to every trade aggregate. One text serves the triggers (src = their transition
-- tables) and analytics.rebuild_aggregates() (src = the whole table).
CREATE OR REPLACE FUNCTION analytics.trade_delta_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH d AS (%s),
        c AS (
            SELECT event_date, city_code, strategy_id,
                   sign::bigint AS trades,
                   sign * quantity::bigint AS contracts,
                   CASE WHEN action = 'buy' THEN sign * price::bigint * quantity ELSE 0 END AS buy_cost,
                   CASE WHEN realized_pnl_cents IS NOT NULL THEN sign ELSE 0 END::bigint AS realized_trades,
                   CASE WHEN realized_pnl_cents IS NOT NULL AND action = 'buy'
                        THEN sign * price::bigint * quantity ELSE 0 END AS realized_cost,
                   CASE WHEN realized_pnl_cents IS NOT NULL THEN sign * realized_pnl_cents ELSE 0 END AS gross,
                   CASE WHEN realized_pnl_cents IS NOT NULL THEN sign * fee_cents::bigint ELSE 0 END AS fees,
                   CASE WHEN realized_pnl_cents IS NOT NULL
                        THEN sign * (realized_pnl_cents - fee_cents) ELSE 0 END AS net,
                   CASE WHEN realized_pnl_cents - fee_cents > 0 THEN sign ELSE 0 END::bigint AS wins,
                   CASE WHEN realized_pnl_cents - fee_cents < 0 THEN sign ELSE 0 END::bigint AS losses,
                   CASE WHEN realized_pnl_cents - fee_cents > 0
                        THEN sign * (realized_pnl_cents - fee_cents) ELSE 0 END AS gross_profit,
                   CASE WHEN realized_pnl_cents - fee_cents < 0
                        THEN sign * (fee_cents - realized_pnl_cents) ELSE 0 END AS gross_loss,
                   CASE WHEN realized_pnl_cents IS NULL AND action = 'buy'
                        THEN sign * price::bigint * open_qty ELSE 0 END AS open_exposure,
                   CASE WHEN model_prob IS NOT NULL THEN sign * (model_prob - price / 100.0) ELSE 0 END AS edge_sum,
                   CASE WHEN model_prob IS NOT NULL THEN sign ELSE 0 END::bigint AS edge_n,
                   CASE WHEN payout_cents IS NOT NULL THEN sign * (payout_cents - price)::bigint ELSE 0 END AS settled_edge,
                   CASE WHEN payout_cents IS NOT NULL THEN sign ELSE 0 END::bigint AS settled_edge_n
            FROM d
        ),
        daily AS (
            INSERT INTO analytics.pnl_daily AS p (
                event_date, city_code, strategy_id, trades, contracts, buy_cost_cents,
                realized_trades, realized_cost_cents, gross_pnl_cents, fees_cents, net_pnl_cents,
                wins, losses, gross_profit_cents, gross_loss_cents, open_exposure_cents,
                edge_sum, edge_n, settled_edge_cents, settled_edge_n)
            SELECT event_date, city_code, strategy_id, sum(trades), sum(contracts), sum(buy_cost),
                   sum(realized_trades), sum(realized_cost), sum(gross), sum(fees), sum(net),
                   sum(wins), sum(losses), sum(gross_profit), sum(gross_loss), sum(open_exposure),
                   sum(edge_sum), sum(edge_n), sum(settled_edge), sum(settled_edge_n)
            FROM c GROUP BY event_date, city_code, strategy_id
            ORDER BY event_date, city_code, strategy_id
            ON CONFLICT (event_date, city_code, strategy_id) DO UPDATE SET
                trades = p.trades + EXCLUDED.trades,
                contracts = p.contracts + EXCLUDED.contracts,
                buy_cost_cents = p.buy_cost_cents + EXCLUDED.buy_cost_cents,
                realized_trades = p.realized_trades + EXCLUDED.realized_trades,
                realized_cost_cents = p.realized_cost_cents + EXCLUDED.realized_cost_cents,
                gross_pnl_cents = p.gross_pnl_cents + EXCLUDED.gross_pnl_cents,
                fees_cents = p.fees_cents + EXCLUDED.fees_cents,
                net_pnl_cents = p.net_pnl_cents + EXCLUDED.net_pnl_cents,
                wins = p.wins + EXCLUDED.wins,
                losses = p.losses + EXCLUDED.losses,
                gross_profit_cents = p.gross_profit_cents + EXCLUDED.gross_profit_cents,
                gross_loss_cents = p.gross_loss_cents + EXCLUDED.gross_loss_cents,
                open_exposure_cents = p.open_exposure_cents + EXCLUDED.open_exposure_cents,
                edge_sum = p.edge_sum + EXCLUDED.edge_sum,
                edge_n = p.edge_n + EXCLUDED.edge_n,
                settled_edge_cents = p.settled_edge_cents + EXCLUDED.settled_edge_cents,
                settled_edge_n = p.settled_edge_n + EXCLUDED.settled_edge_n
            RETURNING 1
        ),
        by_day AS (
            INSERT INTO analytics.pnl_by_day AS p (
                event_date, trades, contracts, realized_trades, gross_pnl_cents, fees_cents,
                net_pnl_cents, wins, losses)
            SELECT event_date, sum(trades), sum(contracts), sum(realized_trades), sum(gross),
                   sum(fees), sum(net), sum(wins), sum(losses)
            FROM c GROUP BY event_date
            ORDER BY event_date
            ON CONFLICT (event_date) DO UPDATE SET
                trades = p.trades + EXCLUDED.trades,
                contracts = p.contracts + EXCLUDED.contracts,
                realized_trades = p.realized_trades + EXCLUDED.realized_trades,
                gross_pnl_cents = p.gross_pnl_cents + EXCLUDED.gross_pnl_cents,
                fees_cents = p.fees_cents + EXCLUDED.fees_cents,
                net_pnl_cents = p.net_pnl_cents + EXCLUDED.net_pnl_cents,
                wins = p.wins + EXCLUDED.wins,
                losses = p.losses + EXCLUDED.losses
            RETURNING 1
        ),
        fresh AS (
            UPDATE analytics.freshness SET updated_at = now() RETURNING 1
        )
        INSERT INTO ops.positions AS p (
            strategy_id, market_id, side, bought_qty, sold_qty, open_qty, open_cost_cents,
            realized_pnl_cents, fees_cents, updated_at)
        SELECT strategy_id, market_id, side,
               sum(CASE WHEN action = 'buy' THEN sign * quantity ELSE 0 END),
               sum(CASE WHEN action = 'sell' THEN sign * quantity ELSE 0 END),
               sum(CASE WHEN realized_pnl_cents IS NULL THEN sign * open_qty ELSE 0 END),
               sum(CASE WHEN realized_pnl_cents IS NULL THEN sign * price::bigint * open_qty ELSE 0 END),
               sum(CASE WHEN realized_pnl_cents IS NOT NULL THEN sign * realized_pnl_cents ELSE 0 END),
               sum(sign * fee_cents::bigint),
               now()
        FROM d GROUP BY strategy_id, market_id, side
        ORDER BY strategy_id, market_id, side
        ON CONFLICT (strategy_id, market_id, side) DO UPDATE SET
            bought_qty = p.bought_qty + EXCLUDED.bought_qty,
            sold_qty = p.sold_qty + EXCLUDED.sold_qty,
            open_qty = p.open_qty + EXCLUDED.open_qty,
            open_cost_cents = p.open_cost_cents + EXCLUDED.open_cost_cents,
            realized_pnl_cents = p.realized_pnl_cents + EXCLUDED.realized_pnl_cents,
            fees_cents = p.fees_cents + EXCLUDED.fees_cents,
            updated_at = now()
    $q$, src)
$fn$;

CREATE OR REPLACE FUNCTION analytics.apply_trade_changes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE analytics.trade_delta_sql(CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, o.* FROM old_rows o'
        ELSE 'SELECT 1 AS sign, n.* FROM new_rows n UNION ALL SELECT -1 AS sign, o.* FROM old_rows o'
    END);
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS trades_aggregate_insert ON ops.trades;
CREATE TRIGGER trades_aggregate_insert AFTER INSERT ON ops.trades
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_trade_changes();
DROP TRIGGER IF EXISTS trades_aggregate_update ON ops.trades;
CREATE TRIGGER trades_aggregate_update AFTER UPDATE ON ops.trades
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_trade_changes();
DROP TRIGGER IF EXISTS trades_aggregate_delete ON ops.trades;
CREATE TRIGGER trades_aggregate_delete AFTER DELETE ON ops.trades
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_trade_changes();

-- ---------------------------------------------------------------------------------------------
-- Signals -> signal_daily. A signal's outcome is its market's result; signals inserted for a
-- market that is already settled count as settled at once, the rest when the market settles.
CREATE OR REPLACE FUNCTION analytics.signal_delta_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH d AS (%s),
        c AS (
            SELECT d.event_date, d.strategy_id,
                   least(floor(d.model_prob * 10), 9)::smallint AS bucket,
                   d.sign AS signals,
                   CASE WHEN m.result IS NOT NULL THEN d.sign ELSE 0 END AS settled_n,
                   CASE WHEN m.result IS NOT NULL THEN d.sign * d.model_prob ELSE 0 END AS prob_sum,
                   CASE WHEN m.result = 'yes' THEN d.sign ELSE 0 END AS outcome_sum,
                   CASE WHEN m.result IS NOT NULL
                        THEN d.sign * (d.model_prob - (m.result = 'yes')::int) ^ 2 ELSE 0 END AS sq_err_sum
            FROM d JOIN ops.markets m ON m.id = d.market_id
        )
        INSERT INTO analytics.signal_daily AS s (
            event_date, strategy_id, bucket, signals, settled_n, prob_sum, outcome_sum, sq_err_sum)
        SELECT event_date, strategy_id, bucket, sum(signals), sum(settled_n), sum(prob_sum),
               sum(outcome_sum), sum(sq_err_sum)
        FROM c GROUP BY event_date, strategy_id, bucket
        ORDER BY event_date, strategy_id, bucket
        ON CONFLICT (event_date, strategy_id, bucket) DO UPDATE SET
            signals = s.signals + EXCLUDED.signals,
            settled_n = s.settled_n + EXCLUDED.settled_n,
            prob_sum = s.prob_sum + EXCLUDED.prob_sum,
            outcome_sum = s.outcome_sum + EXCLUDED.outcome_sum,
            sq_err_sum = s.sq_err_sum + EXCLUDED.sq_err_sum
    $q$, src)
$fn$;

CREATE OR REPLACE FUNCTION analytics.apply_signal_changes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE analytics.signal_delta_sql(CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n'
        ELSE 'SELECT -1 AS sign, o.* FROM old_rows o'
    END);
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS signals_aggregate_insert ON ops.signals;
CREATE TRIGGER signals_aggregate_insert AFTER INSERT ON ops.signals
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_signal_changes();
DROP TRIGGER IF EXISTS signals_aggregate_delete ON ops.signals;
CREATE TRIGGER signals_aggregate_delete AFTER DELETE ON ops.signals
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_signal_changes();

-- Markets whose result changes (settlement, or a corrected settlement) move their signals from
-- the old outcome to the new one.
CREATE OR REPLACE FUNCTION analytics.apply_market_results() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    WITH changed AS (
        SELECT n.id, o.result AS old_result, n.result AS new_result
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.result IS DISTINCT FROM n.result
    ),
    c AS (
        SELECT s.event_date, s.strategy_id,
               least(floor(s.model_prob * 10), 9)::smallint AS bucket,
               (CASE WHEN ch.new_result IS NOT NULL THEN 1 ELSE 0 END
                - CASE WHEN ch.old_result IS NOT NULL THEN 1 ELSE 0 END) AS settled_n,
               (CASE WHEN ch.new_result IS NOT NULL THEN s.model_prob ELSE 0 END
                - CASE WHEN ch.old_result IS NOT NULL THEN s.model_prob ELSE 0 END) AS prob_sum,
               ((ch.new_result IS NOT DISTINCT FROM 'yes')::int
                - (ch.old_result IS NOT DISTINCT FROM 'yes')::int) AS outcome_sum,
               (CASE WHEN ch.new_result IS NOT NULL
                     THEN (s.model_prob - (ch.new_result = 'yes')::int) ^ 2 ELSE 0 END
                - CASE WHEN ch.old_result IS NOT NULL
                     THEN (s.model_prob - (ch.old_result = 'yes')::int) ^ 2 ELSE 0 END) AS sq_err_sum
        FROM changed ch JOIN ops.signals s ON s.market_id = ch.id
    )
    INSERT INTO analytics.signal_daily AS s (
        event_date, strategy_id, bucket, signals, settled_n, prob_sum, outcome_sum, sq_err_sum)
    SELECT event_date, strategy_id, bucket, 0, sum(settled_n), sum(prob_sum), sum(outcome_sum),
           sum(sq_err_sum)
    FROM c GROUP BY event_date, strategy_id, bucket
    ORDER BY event_date, strategy_id, bucket
    ON CONFLICT (event_date, strategy_id, bucket) DO UPDATE SET
        settled_n = s.settled_n + EXCLUDED.settled_n,
        prob_sum = s.prob_sum + EXCLUDED.prob_sum,
        outcome_sum = s.outcome_sum + EXCLUDED.outcome_sum,
        sq_err_sum = s.sq_err_sum + EXCLUDED.sq_err_sum;
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS markets_result_update ON ops.markets;
CREATE TRIGGER markets_result_update AFTER UPDATE ON ops.markets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_market_results();

-- Recompute every aggregate from the raw rows, with the same SQL the triggers run. For bulk
-- loads that disable the triggers (the data generator) and as a repair tool.
CREATE OR REPLACE FUNCTION analytics.rebuild_aggregates() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE analytics.pnl_daily, analytics.pnl_by_day, analytics.signal_daily, ops.positions;
    EXECUTE analytics.trade_delta_sql('SELECT 1 AS sign, t.* FROM ops.trades t');
    EXECUTE analytics.signal_delta_sql('SELECT 1 AS sign, s.* FROM ops.signals s');
END
$fn$;

-- ---------------------------------------------------------------------------------------------
-- The public, disclosure-delayed trade feed (DOMAIN.md). The delay is enforced here, where the
-- data is read: no path to the public sees a trade younger than analytics.disclosure says, and
-- the view carries no order ids, strategy or model internals. `seq` and `executed_at` exist only
-- for keyset pagination; the API turns them into an opaque cursor and shows `time`.
CREATE TABLE IF NOT EXISTS analytics.disclosure (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    delay_minutes  integer NOT NULL DEFAULT 60
                   CONSTRAINT disclosure_delay_not_negative CHECK (delay_minutes >= 0)
);
INSERT INTO analytics.disclosure (id) VALUES (true) ON CONFLICT (id) DO NOTHING;

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
WHERE t.created_at <= now() - make_interval(mins => (SELECT delay_minutes FROM analytics.disclosure));
