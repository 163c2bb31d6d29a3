-- 0007: each account's running totals, for the comparison of accounts.
--
-- The comparison shows, for hundreds of accounts at once, each one's equity at a window's end
-- (starting bankroll + transfers + every net realised P&L up to that day) and its open risk
-- now. Summing analytics.pnl_by_day since inception for every account on each call would cost
-- as many rows as accounts x days. analytics.account_totals holds each account's sums over
-- every settlement day instead, kept by statement-level triggers on analytics.pnl_daily (the
-- same roll-up pattern as 0003's pnl_city_day): equity at day D is then the account's total
-- less the net of the days after D, a handful of rows. Integer money adds exactly, so the
-- totals are exactly the sums of pnl_daily's rows. TRUNCATE of pnl_daily (rebuild_aggregates,
-- the data generator) empties it, and the INSERT or COPY that refills pnl_daily fills it again.
--
-- Running the file again changes nothing: the table is created and filled only when missing,
-- and the functions and triggers are re-created identically.

DO $migrate$
BEGIN
IF to_regclass('analytics.account_totals') IS NULL THEN
    CREATE TABLE analytics.account_totals (
        account_id            integer PRIMARY KEY,
        trades                bigint NOT NULL DEFAULT 0,
        realized_trades       bigint NOT NULL DEFAULT 0,
        fees_micros           bigint NOT NULL DEFAULT 0,
        net_pnl_micros        bigint NOT NULL DEFAULT 0,
        wins                  bigint NOT NULL DEFAULT 0,
        losses                bigint NOT NULL DEFAULT 0,
        open_exposure_micros  bigint NOT NULL DEFAULT 0
    );
    INSERT INTO analytics.account_totals (
        account_id, trades, realized_trades, fees_micros, net_pnl_micros, wins, losses,
        open_exposure_micros)
    SELECT account_id, sum(trades), sum(realized_trades), sum(fees_micros), sum(net_pnl_micros),
           sum(wins), sum(losses), sum(open_exposure_micros)
    FROM analytics.pnl_daily
    GROUP BY account_id
    ORDER BY account_id;
END IF;
END
$migrate$;

-- The upsert that adds the signed rows `src` yields (sign, then pnl_daily's columns).
CREATE OR REPLACE FUNCTION analytics.account_totals_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH d AS (%s)
        INSERT INTO analytics.account_totals AS r (
            account_id, trades, realized_trades, fees_micros, net_pnl_micros, wins, losses,
            open_exposure_micros)
        SELECT account_id, sum(sign * trades), sum(sign * realized_trades),
               sum(sign * fees_micros), sum(sign * net_pnl_micros), sum(sign * wins),
               sum(sign * losses), sum(sign * open_exposure_micros)
        FROM d GROUP BY account_id
        ORDER BY account_id
        ON CONFLICT (account_id) DO UPDATE SET
            trades = r.trades + EXCLUDED.trades,
            realized_trades = r.realized_trades + EXCLUDED.realized_trades,
            fees_micros = r.fees_micros + EXCLUDED.fees_micros,
            net_pnl_micros = r.net_pnl_micros + EXCLUDED.net_pnl_micros,
            wins = r.wins + EXCLUDED.wins,
            losses = r.losses + EXCLUDED.losses,
            open_exposure_micros = r.open_exposure_micros + EXCLUDED.open_exposure_micros
    $q$, src)
$fn$;

-- pnl_daily -> account_totals.
CREATE OR REPLACE FUNCTION analytics.roll_up_account_totals() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE analytics.account_totals;
        RETURN NULL;
    END IF;
    EXECUTE analytics.account_totals_sql(analytics.changed_rows_sql(TG_OP));
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS pnl_daily_account_totals_insert ON analytics.pnl_daily;
CREATE TRIGGER pnl_daily_account_totals_insert AFTER INSERT ON analytics.pnl_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_account_totals();
DROP TRIGGER IF EXISTS pnl_daily_account_totals_update ON analytics.pnl_daily;
CREATE TRIGGER pnl_daily_account_totals_update AFTER UPDATE ON analytics.pnl_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_account_totals();
DROP TRIGGER IF EXISTS pnl_daily_account_totals_delete ON analytics.pnl_daily;
CREATE TRIGGER pnl_daily_account_totals_delete AFTER DELETE ON analytics.pnl_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_account_totals();
DROP TRIGGER IF EXISTS pnl_daily_account_totals_truncate ON analytics.pnl_daily;
CREATE TRIGGER pnl_daily_account_totals_truncate AFTER TRUNCATE ON analytics.pnl_daily
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up_account_totals();
