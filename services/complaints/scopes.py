"""Scopes in complaints (DOMAIN.md "Actors and roles", rev 2): a complaint, a feedback and a service
request are their customer's. A regional manager (any role held in a region) acts on and reads them only
for customers of that region, a salesperson only for their own customers; company-wide roles everywhere.

The customer's region and salesperson come from complaints' own customer directory
(``shared.customer_directory`` in schema "complaints", fed by its durable consumer "complaints" on the
customers stream): complaints never asks the customers service.
"""

from __future__ import annotations

from shared.customer_directory import CustomerDirectory, require_customer_scope

SCHEMA = "complaints"


def customer(directory: CustomerDirectory, customer_id: str, subject: str) -> None:
    require_customer_scope(directory, customer_id, f"{subject} of customer {customer_id}")
