"""Accounts: sign-up, login sessions, password resets, the caller's profile and API keys.

``controller`` holds the REST endpoints, ``schemas`` what they accept and answer, and
``service`` the steps the dashboard's account pages share with them; rows come from
:mod:`storage.accounts`.
"""
