-- 0004: an event whose markets are all settled has exactly one YES market (DOMAIN.md).
-- "At most one" is 0001's unique index markets_one_yes_per_event; this is "at least one": a
-- write that would leave every market of an event settled NO is refused, whoever makes it
-- (the write path, an operator's UPDATE in psql, a script). It is a constraint trigger,
-- deferred to the end of the transaction, because moving the YES from one market to another
-- (a corrected climate report) passes through a state with none: the old winner is set NO
-- before the new one is set YES, since the unique index is checked row by row. The write
-- functions check it before they return (SET CONSTRAINTS ... IMMEDIATE), so their refusal
-- comes from the call that caused it, with nothing written.
--
-- Concurrent writers: two transactions may each settle a different last-open market NO, each
-- seeing the other's market still open. The check takes an advisory lock on the event first,
-- so the second checks only after the first committed, and (READ COMMITTED: each statement of
-- the function takes a fresh snapshot) sees its result. Events already in violation before
-- this migration are left as they are; the next write to them is checked.
-- The data generator's bulk load disables this trigger with the others; its events each
-- settle one YES by construction.

CREATE OR REPLACE FUNCTION ops.check_settled_event_has_a_winner() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    event    text;
    markets  bigint;
    open     bigint;
    winners  bigint;
BEGIN
    -- NEW is NULL on DELETE and OLD on INSERT; an UPDATE may move a market between events.
    FOR event IN
        SELECT DISTINCT e FROM unnest(ARRAY[NEW.event_ticker, OLD.event_ticker]) AS e
        WHERE e IS NOT NULL
    LOOP
        PERFORM pg_advisory_xact_lock(1702260340, hashtext(event));  -- 1702260340 = "evnt"
        SELECT count(*), count(*) FILTER (WHERE result IS NULL),
               count(*) FILTER (WHERE result = 'yes')
        INTO markets, open, winners
        FROM ops.markets WHERE event_ticker = event;
        IF markets > 0 AND open = 0 AND winners = 0 THEN
            RAISE EXCEPTION 'every market of event % would be settled NO; exactly one must settle YES', event
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'markets_one_yes_when_settled',
                      HINT = 'settle the event from its observed high (settle_event), which '
                             'moves the YES to the right market in one transaction';
        END IF;
    END LOOP;
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS markets_one_yes_when_settled ON ops.markets;
CREATE CONSTRAINT TRIGGER markets_one_yes_when_settled
    AFTER INSERT OR DELETE OR UPDATE OF result, event_ticker ON ops.markets
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ops.check_settled_event_has_a_winner();
