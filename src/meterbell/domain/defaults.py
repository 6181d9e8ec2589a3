"""What a new organization starts with."""

from __future__ import annotations

from typing import Any

# m3ter requires these fields on OrganizationConfig; UTC and calendar-aligned epochs are the
# least surprising starting point and every one can be changed with PUT /organizationconfig.
ORGANIZATION_CONFIG: dict[str, Any] = {
    "currency": "USD",
    "timezone": "UTC",
    "dayEpoch": "2022-01-01",
    "weekEpoch": "2022-01-03",
    "monthEpoch": "2022-01-01",
    "yearEpoch": "2022-01-01",
    "daysBeforeBillDue": 1,
}
BILL_CONFIG: dict[str, Any] = {}
CUSTOM_FIELDS: dict[str, Any] = {
    "organization": {},
    "account": {},
    "accountPlan": {},
    "aggregation": {},
    "compoundAggregation": {},
    "contract": {},
    "meter": {},
    "plan": {},
    "planTemplate": {},
    "product": {},
}
SINGLETON_DEFAULTS: dict[str, dict[str, Any]] = {
    "organizationconfig": ORGANIZATION_CONFIG,
    "billconfig": BILL_CONFIG,
    "customfield": CUSTOM_FIELDS,
}
