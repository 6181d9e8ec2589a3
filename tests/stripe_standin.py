"""A local Stripe-compatible API for tests: the official `stripe` package talks to it unchanged.

    with running_stripe_standin() as stripe_server:    # or the `stripe_server` fixture
        client = stripe.StripeClient(
            stripe_server.api_key, base_addresses={"api": stripe_server.url}
        )
        customer = client.v1.customers.create({"name": "Acme"})
        stripe_server.fail("/v1/invoices", 500)          # the next POST /v1/invoices answers 500
        stripe_server.count("/v1/invoices")              # requests that reached a path
        stripe_server.invoices()                         # the invoices it holds

It speaks Stripe's v1 wire format: form-encoded bodies in bracket notation (`metadata[k]=v`,
`lines[0][x]=y`), `Authorization: Bearer sk_test_…` (or Basic with the key as user),
`Idempotency-Key` (replay with `Idempotent-Replayed: true`, 400 idempotency_error when reused
with other parameters), Stripe's objects (`id` prefixes, `object`) and Stripe's error JSON with
its HTTP statuses. It serves the part of the API that meterbell's Stripe connector uses:
customers, invoice items and invoices (create, retrieve, list, finalize). docs/integrations.md
lists what it does not model.

The server is an aiohttp application on its own event loop in a thread, so sync and async tests
(and the sync or async Stripe client) can use it alike; every hook is thread-safe.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

DEFAULT_API_KEY = "sk_test_meterbellstandin0000000000000000"
# The currencies the stand-in accepts (a subset of Stripe's list, in Stripe's lower case).
CURRENCIES_LIST = (
    "usd eur gbp jpy cad aud chf sek nok dkk nzd sgd hkd inr brl mxn pln czk huf ron bgn "
    "zar ils aed krw twd thb myr php idr try"
)
CURRENCIES = frozenset(CURRENCIES_LIST.split())
API_VERSION = "2026-10-28.endive"  # the version stripe==16.1.0 sends
LINES_SHOWN = 10  # Stripe embeds at most this many lines in an invoice; the rest are paged
MAX_AMOUNT = 99_999_999  # Stripe's eight-digit limit on an amount in the smallest unit
UNKNOWN_ERROR = "An unknown error occurred"


class StripeError(Exception):
    """An answer in Stripe's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if code is not None:
            self.body["code"] = code
        if param is not None:
            self.body["param"] = param
        if code is not None:
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, message, code=code, param=param)


def no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


# ---------------------------------------------------------------------------- form decoding


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's bracket notation to nested dicts and lists: `a[b][0][c]=v` → {a: {b: [{c: v}]}};
    `expand[]=x` → {expand: [x]}."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        head, *rest = raw_key.split("[", 1)
        keys = [head] + ([] if not rest else re.findall(r"\[([^\[\]]*)\]", "[" + rest[0]))
        node: Any = root
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            if key == "":  # `a[]=v`: append
                key = str(len(node))
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
    decoded: dict[str, Any] = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Request:
    """One request as it reached the stand-in, and how it was answered."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    idempotency_key: str | None
    status: int
    replayed: bool


@dataclass
class _Fault:
    method: str
    pattern: str
    statuses: deque[int]


@dataclass
class _Hang:
    method: str
    pattern: str
    remaining: int
    process: bool
    drop: bool = False


@dataclass
class _Saved:
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: bytes
    request_id: str


@dataclass
class _State:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotent: dict[tuple[str, str], _Saved] = field(default_factory=dict)


def _now() -> int:
    return int(time.time())


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'a').replace('_', 'b')[:24]}"


def _redact(key: str) -> str:
    return f"{key[:8]}****{key[-4:]}" if len(key) > 12 else "****"


# ---------------------------------------------------------------------------- the server


class StripeStandin:
    """The stand-in's state, its test hooks, and the aiohttp application that serves it."""

    def __init__(self, api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)) -> None:
        self.api_keys = tuple(api_keys)
        self.url = ""
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._state = _State()
        self._requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._hangs: list[_Hang] = []
        self._held = 0
        self._replayed_from: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None

    @property
    def env(self) -> dict[str, str]:
        """The variable that points meterbell's Stripe connector here."""
        return {"MB_STRIPE_API_BASE": self.url}

    @property
    def api_key(self) -> str:
        """The key the stand-in accepts (the first, if it was given several)."""
        return self.api_keys[0]

    # ------------------------------------------------------------------ test hooks

    def fail(self, path: str, *statuses: int, method: str = "POST") -> None:
        """Answer the next len(statuses) `method` requests to `path` (an fnmatch pattern such
        as `/v1/invoices/*/finalize`) with these statuses, in Stripe's api_error shape, before
        any processing (nothing is created, nothing saved for idempotent replay)."""
        with self._lock:
            self._faults.append(_Fault(method.upper(), path, deque(statuses)))

    def hang(
        self, path: str, times: int = 1, *, process: bool = True, method: str = "POST"
    ) -> None:
        """Hold the next `times` `method` requests to `path` without answering until `release()`
        or the server stops, so the client times out. With `process` (the default) the request
        is carried out first (the object is created and saved for idempotent replay) and only
        the answer is lost, as when a connection drops after Stripe has acted."""
        with self._lock:
            self._hangs.append(_Hang(method.upper(), path, times, process))

    def drop(
        self, path: str, times: int = 1, *, process: bool = True, method: str = "POST"
    ) -> None:
        """Cut the connection of the next `times` `method` requests to `path` without an answer,
        so the client sees it closed at once (no timeout to wait for). With `process` (the
        default) the request is carried out first, as `hang` says."""
        with self._lock:
            self._hangs.append(_Hang(method.upper(), path, times, process, drop=True))

    def release(self) -> None:
        """Let every request held so far answer (later ones are held again, as `hang` says)."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._release_held)

    def _release_held(self) -> None:
        if self._release is not None:
            self._release.set()
        self._release = asyncio.Event()

    def forget_idempotency_keys(self) -> None:
        """Forget every saved answer, as Stripe does 24 hours after a key's first use: the same
        key then carries out its request again."""
        with self._lock:
            self._state.idempotent.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._hangs.clear()

    def requests(
        self, path: str | None = None, *, method: str | None = None, key: str | None = None
    ) -> list[Request]:
        """Requests that reached the stand-in (answered, or held), oldest first; `path` is an
        fnmatch pattern."""
        with self._lock:
            return [
                r
                for r in self._requests
                if (path is None or fnmatch.fnmatchcase(r.path, path))
                and (method is None or r.method == method.upper())
                and (key is None or r.idempotency_key == key)
            ]

    def count(self, path: str, *, method: str = "POST") -> int:
        return len(self.requests(path, method=method))

    def count_key(self, key: str) -> int:
        """How many requests carried `Idempotency-Key: key`."""
        return len(self.requests(key=key))

    def wait_for(
        self, path: str, count: int, *, method: str = "POST", timeout_s: float = 10.0
    ) -> None:
        """Block until `count` requests reached `path` (held ones included); fail after
        `timeout_s`."""
        with self._arrived:
            if not self._arrived.wait_for(
                lambda: len(self.requests(path, method=method)) >= count, timeout_s
            ):
                raise TimeoutError(f"{count} requests to {path} did not arrive in {timeout_s}s")

    @property
    def held(self) -> int:
        """Requests held by `hang` and not yet released."""
        with self._lock:
            return self._held

    def customers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._state.customers.values()]

    def invoice_items(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i) for i in self._state.items.values()]

    def invoices(self, customer: str | None = None) -> list[dict[str, Any]]:
        """The invoices it holds, as Stripe would return them, oldest first."""
        with self._lock:
            return [
                self._invoice_view(i)
                for i in self._state.invoices.values()
                if customer is None or i["customer"] == customer
            ]

    @property
    def state(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "customers": self.customers(),
            "invoiceitems": self.invoice_items(),
            "invoices": self.invoices(),
        }

    # ------------------------------------------------------------------ HTTP

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method.upper()
        path = request.path
        body = (await request.read()).decode()
        params = decode_form(body if method == "POST" else request.query_string)
        headers = dict(request.headers)
        key = request.headers.get("Idempotency-Key") if method == "POST" else None
        request_id = _new_id("req")
        version = request.headers.get("Stripe-Version", API_VERSION)
        replayed = False

        if path.startswith("/hosted/"):
            return web.Response(
                text="Stripe stand-in: a hosted invoice page", content_type="text/html"
            )

        hang: _Hang | None = None
        with self._lock:
            fault = self._take_fault(method, path)
            if fault is None:
                hang = self._take_hang(method, path)
        if fault is not None:
            status, payload = fault, self._fault_body(fault)
        elif hang is not None and not hang.process:
            # Never carried out; once released it answers 500 (the client has long gone).
            status, payload = 500, self._fault_body(500)
        else:
            with self._lock:
                status, payload, replayed = self._respond(
                    method, path, params, request, key, request_id
                )
        if hang is None:
            self._record(method, path, params, headers, key, status, replayed)
            return self._response(status, payload, request_id, replayed, key, version)
        self._record(method, path, params, headers, key, status, replayed, held=not hang.drop)
        if hang.drop:
            return self._drop(request)
        await self._hold()
        return self._response(status, payload, request_id, replayed, key, version)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Cut the connection without an answer; the response returned never reaches it."""
        assert request.transport is not None
        request.transport.abort()
        return web.Response(status=500)

    def _response(
        self,
        status: int,
        payload: bytes,
        request_id: str,
        replayed: bool,
        key: str | None,
        version: str,
    ) -> web.Response:
        headers = {"Request-Id": request_id, "Stripe-Version": version}
        if key is not None:
            headers["Idempotency-Key"] = key
        if replayed:
            headers["Idempotent-Replayed"] = "true"
            with self._lock:
                headers["Original-Request"] = self._replayed_from.pop(request_id, request_id)
        return web.Response(
            status=status, body=payload, content_type="application/json", headers=headers
        )

    async def _hold(self) -> None:
        """Wait for `release()`; `_record(held=True)` has counted this request as held."""
        release = self._release
        assert release is not None
        try:
            await release.wait()
        finally:
            with self._lock:
                self._held -= 1

    def _record(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        headers: dict[str, str],
        key: str | None,
        status: int,
        replayed: bool,
        *,
        held: bool = False,
    ) -> None:
        with self._arrived:
            self._requests.append(Request(method, path, params, headers, key, status, replayed))
            if held:  # counted in the same step, so a test that saw it arrive sees it held
                self._held += 1
            self._arrived.notify_all()

    def _take_fault(self, method: str, path: str) -> int | None:
        for fault in self._faults:
            if (
                fault.statuses
                and fault.method == method
                and fnmatch.fnmatchcase(path, fault.pattern)
            ):
                return fault.statuses.popleft()
        return None

    def _take_hang(self, method: str, path: str) -> _Hang | None:
        for hang in self._hangs:
            if hang.remaining and hang.method == method and fnmatch.fnmatchcase(path, hang.pattern):
                hang.remaining -= 1
                return hang
        return None

    @staticmethod
    def _fault_body(status: int) -> bytes:
        if status == 429:
            error: dict[str, Any] = {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
            }
        else:
            error = {"type": "api_error", "message": UNKNOWN_ERROR}
        return orjson.dumps({"error": error})

    def _respond(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        request: web.Request,
        key: str | None,
        request_id: str,
    ) -> tuple[int, bytes, bool]:
        """Authenticate, replay or run; (status, body, replayed)."""
        try:
            api_key = self._authenticate(request)
            if key is not None:
                saved = self._state.idempotent.get((api_key, key))
                if saved is not None:
                    if (saved.method, saved.path, saved.params) != (method, path, params):
                        raise StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                            type_="idempotency_error",
                        )
                    self._replayed_from[request_id] = saved.request_id
                    return saved.status, saved.body, True
            result = self._route(method, path, params)
            status, body = 200, orjson.dumps(result)
            if key is not None:
                self._state.idempotent[(api_key, key)] = _Saved(
                    method, path, params, status, body, request_id
                )
            return status, body, False
        except StripeError as error:
            return error.status, orjson.dumps({"error": error.body}), False

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.",
            )
        if key not in self.api_keys:
            raise StripeError(401, f"Invalid API Key provided: {_redact(key)}")
        return key

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if parts[:1] == ["v1"]:
            match method, parts[1:]:
                case "POST", ["customers"]:
                    return self._create_customer(params)
                case "GET", ["customers", customer_id]:
                    return self._customer(customer_id)
                case "POST", ["invoiceitems"]:
                    return self._create_item(params)
                case "GET", ["invoiceitems", item_id]:
                    self._only(params, {"expand"})
                    return self._item(item_id)
                case "POST", ["invoices"]:
                    return self._create_invoice(params)
                case "GET", ["invoices"]:
                    return self._list_invoices(params)
                case "GET", ["invoices", invoice_id]:
                    self._only(params, {"expand"})
                    return self._invoice_view(self._invoice(invoice_id))
                case "GET", ["invoices", invoice_id, "lines"]:
                    return self._list_lines(invoice_id, params)
                case "DELETE", ["invoiceitems", item_id]:
                    return self._delete_item(item_id)
                case "POST", ["invoices", invoice_id, "finalize"]:
                    return self._finalize(invoice_id, params)
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    # ------------------------------------------------------------------ resources

    @staticmethod
    def _only(params: dict[str, Any], allowed: set[str]) -> None:
        for name in params:
            if name not in allowed:
                raise StripeError(
                    400,
                    f"Received unknown parameter: {name}",
                    code="parameter_unknown",
                    param=name,
                )

    @staticmethod
    def _metadata(params: dict[str, Any]) -> dict[str, str]:
        metadata = params.get("metadata", {})
        if metadata == "":
            return {}
        if not isinstance(metadata, dict):
            raise invalid("metadata", "Invalid object", "parameter_invalid")
        for name, value in metadata.items():
            if len(name) > 40:
                raise invalid(f"metadata[{name}]", "Metadata keys can be up to 40 characters.")
            if not isinstance(value, str) or len(value) > 500:
                raise invalid(f"metadata[{name}]", "Metadata values can be up to 500 characters.")
        return {k: v for k, v in metadata.items() if v != ""}

    @staticmethod
    def _int(params: dict[str, Any], name: str) -> int | None:
        value = params.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
            raise invalid(name, f"Invalid integer: {value}", "parameter_invalid_integer")
        return int(value)

    @staticmethod
    def _decimal(params: dict[str, Any], name: str) -> Decimal | None:
        """A decimal string with at most 12 decimal places, as Stripe's `*_decimal` fields."""
        value = params.get(name)
        if value is None:
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = Decimal("NaN")
        exponent = number.as_tuple().exponent
        if not number.is_finite() or not isinstance(exponent, int) or exponent < -12:
            raise invalid(name, f"Invalid decimal: {value}", "parameter_invalid_decimal")
        return number

    @staticmethod
    def _bool(params: dict[str, Any], name: str) -> bool | None:
        value = params.get(name)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise invalid(name, f"Invalid boolean: {value}")
        return str(value) == "true"

    @staticmethod
    def _currency(params: dict[str, Any], default: str | None) -> str:
        value = params.get("currency")
        if value is None:
            if default is None:
                raise missing("currency")
            return default
        currency = str(value).lower()
        if currency not in CURRENCIES:
            raise invalid(
                "currency",
                f"Invalid currency: {value}. Stripe currently supports these currencies: "
                + ", ".join(sorted(CURRENCIES)),
            )
        return currency

    def _customer(self, customer_id: str, param: str = "id") -> dict[str, Any]:
        customer = self._state.customers.get(customer_id)
        if customer is None:
            raise no_such("customer", customer_id, param)
        return customer

    def _item(self, item_id: str) -> dict[str, Any]:
        item = self._state.items.get(item_id)
        if item is None:
            raise no_such("invoiceitem", item_id)
        return item

    def _invoice(self, invoice_id: str, param: str = "id") -> dict[str, Any]:
        invoice = self._state.invoices.get(invoice_id)
        if invoice is None:
            raise no_such("invoice", invoice_id, param)
        return invoice

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"name", "email", "description", "metadata", "expand"})
        customer: dict[str, Any] = {
            "id": _new_id("cus"),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": _now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "email": params.get("email"),
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": self._metadata(params),
            "name": params.get("name"),
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self._state.customers[customer["id"]] = customer
        return customer

    def _create_item(self, params: dict[str, Any]) -> dict[str, Any]:
        self._only(
            params,
            {
                "customer",
                "amount",
                "unit_amount_decimal",
                "quantity",
                "quantity_decimal",
                "currency",
                "description",
                "invoice",
                "metadata",
                "period",
                "discountable",
                "expand",
            },
        )
        if "customer" not in params:
            raise missing("customer")
        customer = self._customer(str(params["customer"]), "customer")
        invoice = None
        if params.get("invoice"):
            invoice = self._invoice(str(params["invoice"]), "invoice")
            if invoice["customer"] != customer["id"]:
                raise invalid(
                    "invoice",
                    f"The invoice '{invoice['id']}' belongs to another customer than "
                    f"'{customer['id']}'.",
                )
            if invoice["status"] != "draft":
                raise invalid(
                    "invoice",
                    f"Invoice '{invoice['id']}' is not a draft: invoice items can only be "
                    "added to draft invoices.",
                    "invoice_not_editable",
                )
        currency = self._currency(
            params, invoice["currency"] if invoice else customer["currency"] or None
        )
        if invoice is not None and currency != invoice["currency"]:
            raise invalid(
                "currency",
                f"The currency of the invoice item ({currency}) must match the currency of "
                f"the invoice ({invoice['currency']}).",
            )
        if customer["currency"] and currency != customer["currency"]:
            raise invalid(
                "currency",
                f"You cannot combine currencies on a single customer. This customer has had "
                f"an invoice in {customer['currency']}, but you are trying to invoice in "
                f"{currency}.",
                "combining_currencies",
            )
        quantity = self._int(params, "quantity")
        if quantity is not None and quantity < 0:
            raise invalid("quantity", "Invalid positive integer", "parameter_invalid_integer")
        quantity_decimal = self._decimal(params, "quantity_decimal")
        if quantity_decimal is not None:
            if quantity is not None:
                raise invalid(
                    "quantity_decimal",
                    "You may only specify one of these parameters: quantity, quantity_decimal.",
                )
            if quantity_decimal < 0:
                raise invalid("quantity_decimal", "Invalid positive decimal")
        else:
            quantity_decimal = Decimal(quantity if quantity is not None else 1)
        amount = self._int(params, "amount")
        unit_decimal = self._decimal(params, "unit_amount_decimal")
        if unit_decimal is not None:
            if amount is not None:
                raise invalid(
                    "unit_amount_decimal",
                    "You may only specify one of these parameters: amount, unit_amount_decimal.",
                )
            # Rounded half up to the currency's smallest unit (an assumption: Stripe does not
            # document its rounding here).
            amount = int((unit_decimal * quantity_decimal).quantize(Decimal(1), ROUND_HALF_UP))
        elif amount is None:
            raise missing("amount")
        elif "quantity" in params or "quantity_decimal" in params:
            raise invalid(
                "quantity" if "quantity" in params else "quantity_decimal",
                "You may only specify a quantity with unit_amount_decimal or a price.",
            )
        if abs(amount) > MAX_AMOUNT:
            raise invalid("amount", "Amount must be no more than 99,999,999.", "amount_too_large")
        created = _now()
        period = params.get("period") or {}
        item: dict[str, Any] = {
            "id": _new_id("ii"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": currency,
            "customer": customer["id"],
            "date": created,
            "description": params.get("description"),
            "discountable": self._bool(params, "discountable") is not False,
            "discounts": [],
            "invoice": invoice["id"] if invoice else None,
            "livemode": False,
            "metadata": self._metadata(params),
            "parent": None,
            "period": {
                "start": int(period.get("start", created)),
                "end": int(period.get("end", created)),
            },
            "pricing": {
                "price_details": None,
                "type": None,
                "unit_amount_decimal": str(unit_decimal if unit_decimal is not None else amount),
            },
            "proration": False,
            "quantity": int(quantity_decimal),
            "quantity_decimal": format(quantity_decimal.normalize(), "f"),
            "tax_rates": [],
            "test_clock": None,
        }
        self._state.items[item["id"]] = item
        return item

    def _create_invoice(self, params: dict[str, Any]) -> dict[str, Any]:
        self._only(
            params,
            {
                "customer",
                "currency",
                "collection_method",
                "days_until_due",
                "due_date",
                "auto_advance",
                "description",
                "metadata",
                "pending_invoice_items_behavior",
                "expand",
            },
        )
        if "customer" not in params:
            raise missing("customer")
        customer = self._customer(str(params["customer"]), "customer")
        currency = self._currency(params, customer["currency"] or "usd")
        collection = params.get("collection_method", "charge_automatically")
        if collection not in ("charge_automatically", "send_invoice"):
            raise invalid(
                "collection_method",
                "Invalid collection_method: must be one of charge_automatically or send_invoice",
            )
        days = self._int(params, "days_until_due")
        due_date = self._int(params, "due_date")
        if collection == "send_invoice":
            if days is None and due_date is None:
                raise missing("days_until_due")
        elif days is not None or due_date is not None:
            raise invalid(
                "days_until_due" if days is not None else "due_date",
                "Invoices with collection_method=charge_automatically cannot have a due date.",
            )
        if days is not None and days < 0:
            raise invalid("days_until_due", "Invalid positive integer", "parameter_invalid_integer")
        behaviour = params.get("pending_invoice_items_behavior", "exclude")
        if behaviour not in ("include", "exclude"):
            raise invalid(
                "pending_invoice_items_behavior",
                "Invalid pending_invoice_items_behavior: must be one of exclude or include",
            )
        created = _now()
        invoice: dict[str, Any] = {
            "id": _new_id("in"),
            "object": "invoice",
            "account_country": "US",
            "account_name": "meterbell stand-in",
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": bool(self._bool(params, "auto_advance")),
            "billing_reason": "manual",
            "collection_method": collection,
            "created": created,
            "currency": currency,
            "customer": customer["id"],
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "days_until_due": days,
            "description": params.get("description"),
            "due_date": due_date,
            "effective_at": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "livemode": False,
            "metadata": self._metadata(params),
            "number": None,
            "parent": None,
            "period_end": created,
            "period_start": created,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": 0,
            "total": 0,
            "webhooks_delivered_at": None,
        }
        self._state.invoices[invoice["id"]] = invoice
        if behaviour == "include":
            for item in self._state.items.values():
                if (
                    item["customer"] == customer["id"]
                    and item["invoice"] is None
                    and item["currency"] == currency
                ):
                    item["invoice"] = invoice["id"]
        return self._invoice_view(invoice)

    def _lines(self, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "id": f"il_{item['id'][3:]}",
                "object": "line_item",
                "amount": item["amount"],
                "currency": item["currency"],
                "description": item["description"],
                "discount_amounts": [],
                "discountable": item["discountable"],
                "discounts": [],
                "invoice": invoice["id"],
                "livemode": False,
                "metadata": dict(item["metadata"]),
                "parent": {
                    "type": "invoice_item_details",
                    "invoice_item_details": {
                        "invoice_item": item["id"],
                        "proration": False,
                        "proration_details": {"credited_items": None},
                        "subscription": None,
                    },
                    "subscription_item_details": None,
                },
                "period": dict(item["period"]),
                "pretax_credit_amounts": [],
                "pricing": dict(item["pricing"]),
                "quantity": item["quantity"],
                "quantity_decimal": item["quantity_decimal"],
                "subtotal": item["amount"],
                "taxes": [],
            }
            for item in self._state.items.values()
            if item["invoice"] == invoice["id"]
        ]

    def _invoice_view(self, invoice: dict[str, Any]) -> dict[str, Any]:
        view = dict(invoice)
        if invoice["status"] == "draft":
            lines = self._lines(invoice)
            total = sum(line["amount"] for line in lines)
            view.update(
                subtotal=total,
                total=total,
                amount_due=max(total, 0),
                amount_remaining=max(total, 0),
            )
        else:
            lines = invoice["frozen_lines"]
        view.pop("frozen_lines", None)
        view["lines"] = {
            "object": "list",
            "data": lines[:LINES_SHOWN],
            "has_more": len(lines) > LINES_SHOWN,
            "total_count": len(lines),
            "url": f"/v1/invoices/{invoice['id']}/lines",
        }
        return view

    def _all_lines(self, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        return self._lines(invoice) if invoice["status"] == "draft" else invoice["frozen_lines"]

    def _list_lines(self, invoice_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"limit", "starting_after", "expand"})
        lines = self._all_lines(self._invoice(invoice_id))
        page, more = self._page(lines, params, "line_item")
        return {
            "object": "list",
            "data": page,
            "has_more": more,
            "url": f"/v1/invoices/{invoice_id}/lines",
        }

    def _page(
        self, found: list[dict[str, Any]], params: dict[str, Any], kind: str
    ) -> tuple[list[dict[str, Any]], bool]:
        limit = self._int(params, "limit") or 10
        if not 1 <= limit <= 100:
            raise invalid("limit", "This value must be between 1 and 100.")
        if "starting_after" in params:
            ids = [i["id"] for i in found]
            if params["starting_after"] not in ids:
                raise no_such(kind, str(params["starting_after"]), "starting_after")
            found = found[ids.index(params["starting_after"]) + 1 :]
        return found[:limit], len(found) > limit

    def _delete_item(self, item_id: str) -> dict[str, Any]:
        item = self._item(item_id)
        if (
            item["invoice"] is not None
            and self._state.invoices[item["invoice"]]["status"] != "draft"
        ):
            raise invalid(
                "id",
                "You cannot delete an invoice item that is attached to a finalized invoice.",
                "invoice_not_editable",
            )
        del self._state.items[item_id]
        return {"id": item_id, "object": "invoiceitem", "deleted": True}

    def _finalize(self, invoice_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"auto_advance", "expand"})
        invoice = self._invoice(invoice_id)
        if invoice["status"] != "draft":
            raise StripeError(
                400,
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_not_editable",
            )
        customer = self._state.customers[invoice["customer"]]
        view = self._invoice_view(invoice)
        now = _now()
        token = secrets.token_urlsafe(24)
        total = view["total"]
        invoice.update(
            frozen_lines=self._lines(invoice),
            subtotal=total,
            total=total,
            amount_due=max(total, 0),
            amount_remaining=max(total, 0),
            number=f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}",
            status="open",
            effective_at=now,
            hosted_invoice_url=f"{self.url}/hosted/invoice/{token}",
            invoice_pdf=f"{self.url}/hosted/invoice/{token}/pdf",
        )
        invoice["status_transitions"]["finalized_at"] = now
        if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
            invoice["due_date"] = now + 86_400 * int(invoice["days_until_due"])
        if params.get("auto_advance") is not None:
            invoice["auto_advance"] = self._bool(params, "auto_advance")
        if invoice["amount_due"] == 0:  # Stripe marks a zero invoice paid when it finalizes
            invoice.update(status="paid", amount_remaining=0)
            invoice["status_transitions"]["paid_at"] = now
        customer["next_invoice_sequence"] += 1
        customer["currency"] = customer["currency"] or invoice["currency"]
        return self._invoice_view(invoice)

    def _list_invoices(self, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"customer", "status", "limit", "starting_after", "expand"})
        # Stripe lists newest first.
        found = [
            i
            for i in reversed(self._state.invoices.values())
            if ("customer" not in params or i["customer"] == params["customer"])
            and ("status" not in params or i["status"] == params["status"])
        ]
        page, more = self._page(found, params, "invoice")
        return {
            "object": "list",
            "data": [self._invoice_view(i) for i in page],
            "has_more": more,
            "url": "/v1/invoices",
        }


# ---------------------------------------------------------------------------- running it


@contextmanager
def running_stripe_standin(
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,),
) -> Iterator[StripeStandin]:
    """The stand-in on a free 127.0.0.1 port, on its own event loop in a thread; stopped (held
    requests released) on exit."""
    standin = StripeStandin(api_keys)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(standin.app(), handle_signals=False, access_log=None)

    async def start() -> None:
        standin._release = asyncio.Event()
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        standin.url = f"http://127.0.0.1:{port}"

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        standin._loop = loop
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="stripe-standin", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the Stripe stand-in did not start")
    try:
        yield standin
    finally:
        standin.release()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
