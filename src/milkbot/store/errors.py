"""The write path's one error, and how input and database failures become it.

Every refusal is a :class:`WriteError` with a message, the ``field`` to fix when one input is to
blame, and a stable ``code`` a client can branch on. The rules live in the models (validated
again here, :func:`checked`) and in the schema's constraints (:func:`database_errors`, the last
resort for anything a model did not catch).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from psycopg import errors
from pydantic import BaseModel, ValidationError


class WriteError(ValueError):
    """A write was refused; ``field`` names what to fix when one input is to blame."""

    def __init__(self, message: str, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


# pydantic error types -> WriteError codes; any other type is "invalid".
_VALIDATION_CODES = {
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "date_range": "out_of_range",
    "finite_number": "not_finite",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "nul_character": "nul_character",
    "string_unicode": "invalid_text",
    "too_precise": "too_precise",
    "binary_float": "binary_float",
}

# Constraint name -> the input field that breaks it.
_CONSTRAINT_FIELDS = {
    "trades_price_on_the_finest_grid": "price_dollars",
    "trades_quantity_positive": "count",
    "trades_fees_not_negative": "trade_fee_dollars",
    "trades_model_prob_0_to_1": "model_prob",
    "trades_side_yes_or_no": "side",
    "trades_action_buy_or_sell": "action",
    "trades_client_trade_id_length": "client_trade_id",
    "trades_order_id_fkey": "order_id",
    "signals_model_prob_0_to_1": "model_prob",
    "signals_yes_price_between_0_and_1": "yes_price_dollars",
    "trades_account_id_fkey": "account",
    "signals_account_id_fkey": "account",
    "heartbeats_account_id_fkey": "account",
    "markets_city_code_fkey": "city_code",
    "markets_ticker_key": "ticker",
    "markets_one_yes_per_event": "result",
    "markets_one_yes_when_settled": "result",
}
# Constraints whose violation has a code of its own (the rest are "constraint").
_CONSTRAINT_CODES = {
    "markets_city_code_fkey": "unknown_city",
    "trades_order_id_fkey": "unknown_order",
    "trades_account_id_fkey": "unknown_account",
    "signals_account_id_fkey": "unknown_account",
    "heartbeats_account_id_fkey": "unknown_account",
    "markets_one_yes_per_event": "bad_settlement",
    "markets_one_yes_when_settled": "bad_settlement",
}

Model = TypeVar("Model", bound=BaseModel)


def checked(model: Model) -> Model:
    """``model`` validated again by its own class (``model_copy(update=...)`` and
    ``model_construct`` skip validation); the first failure becomes a WriteError naming the
    field, with a code from the kind of failure (``out_of_range``, ``nul_character``, ...)."""
    try:
        # (A value set without validation may not serialise as its type; validation says why.)
        return type(model).model_validate(model.model_dump(warnings=False))
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def from_validation_error(exc: ValidationError) -> WriteError:
    """The first error of a pydantic ValidationError as a WriteError naming its field."""
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or None
    code = _VALIDATION_CODES.get(err["type"], "invalid")
    return WriteError(f"{field or exc.title}: {err['msg']}", field=field, code=code)


def from_database_error(exc: psycopg.Error) -> WriteError:
    """A constraint violation as a WriteError naming the rule (and the field, when known)."""
    diag = exc.diag
    constraint = diag.constraint_name or ""
    detail = diag.message_detail or ""
    message = f"{diag.message_primary or exc}" + (f" ({detail})" if detail else "")
    return WriteError(
        message,
        field=_CONSTRAINT_FIELDS.get(constraint) or diag.column_name,
        code=_CONSTRAINT_CODES.get(constraint, "constraint"),
    )


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn what the database (or psycopg, adapting a value) refuses into a WriteError.

    The last resort: the models keep every value within the column types, so a data error
    here means a rule is missing from a model, and the caller still gets a WriteError rather
    than a raw driver error. Errors that are not about the data (connection lost, deadlock,
    timeout) pass through unchanged.
    """
    try:
        yield
    except errors.IntegrityError as exc:  # check, unique, foreign key, not null
        raise from_database_error(exc) from exc
    except errors.NumericValueOutOfRange as exc:
        raise WriteError(
            f"a number is out of range for its column: {exc.diag.message_primary or exc}",
            field=exc.diag.column_name,
            code="out_of_range",
        ) from exc
    except psycopg.DataError as exc:  # includes NUL in text, refused by psycopg itself
        raise WriteError(
            f"a value cannot be stored: {exc.diag.message_primary or exc}",
            field=exc.diag.column_name,
            code="invalid_value",
        ) from exc
    except UnicodeEncodeError as exc:
        raise WriteError(f"text is not valid Unicode: {exc}", code="invalid_text") from exc
