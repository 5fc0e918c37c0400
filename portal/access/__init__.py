"""Conditional access: grants that let a user analyse a `conditional` dataset in the sandbox.

Applications and their review by a steward come with the access issue; grants exist now so the
sandbox engine can be driven (by the CLI) with exactly the checks the web app will use.
"""
