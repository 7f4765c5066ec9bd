"""Watchlists: the events, performers and venues a user follows.

``controller`` holds the REST endpoints, ``schemas`` what they accept and answer, and
``service`` the plan limit shared with alert rules and the dashboard; rows come from
:mod:`storage.watchlists`.
"""
