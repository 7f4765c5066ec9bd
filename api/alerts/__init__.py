"""Alerts: a user's alert rules and the alerts sent to them.

``controller`` holds the REST endpoints, ``schemas`` what they accept and answer, and
``rules`` what makes a rule valid (the dashboard checks rules with it too); rows come from
:mod:`storage.watchlists` (rules) and :mod:`storage.alert_history` (alerts sent).
"""
