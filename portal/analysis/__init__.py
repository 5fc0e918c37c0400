"""The sandbox as the portal sees it: grants in, the broker, disclosure control, quotas, audit.

This is the only package that imports `sandbox`. Analyst code never reaches the portal: the
sandbox sends JSON plans, the broker here checks them against grants and the data dictionary,
runs them through `portal.store`, and releases only what passes disclosure control.
"""
