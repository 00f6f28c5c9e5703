"""Runs every scim2-tester check against a bposhield SCIM endpoint.

Usage: python scim_conformance.py BASE_URL TOKEN
Prints one line per check; exits 1 when any check errors (SKIPPED is reported, not
failed: see docs/scim.md for the checks that do not apply).
"""

import random
import sys

import scim2_tester.filling as filling
from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


# The tester fills every attribute with a random UUID string, as it cannot know a
# server's constraints. bposhield's HR record has some (docs/scim.md): the employee
# number is 1-32 letters, digits, '-' or '_', and hire and exit dates are YYYY-MM-DD.
# Give those attributes values of their real shape; every check still runs.
_random_value = filling.generate_random_value


def _shaped_value(context, path, *args, **kwargs):
    name = str(path).rsplit(":", 1)[-1]
    if name == "employeeNumber":
        return f"E{random.randint(0, 10**9):09d}"
    if name == "hireDate":
        return f"20{random.randint(10, 23)}-0{random.randint(1, 9)}-1{random.randint(0, 9)}"
    if name == "exitDate":
        return f"20{random.randint(30, 39)}-0{random.randint(1, 9)}-1{random.randint(0, 9)}"
    return _random_value(context, path, *args, **kwargs)


filling.generate_random_value = _shaped_value
for _module in list(sys.modules.values()):
    if getattr(_module, "__name__", "").startswith("scim2_tester") and hasattr(_module, "generate_random_value"):
        _module.generate_random_value = _shaped_value


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    failed = 0
    for r in results:
        where = f"[{r.resource_type}] " if getattr(r, "resource_type", None) else ""
        print(f"{r.status.name} {where}{r.title}")
        if r.status not in (Status.SUCCESS, Status.SKIPPED):
            failed += 1
            print(f"    {r.reason}")
    print(f"{len(results)} checks, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
