"""Ticketmaster under ``/ticketmaster``: Discovery v2, Commerce v2 offers, Top Picks v1.

``routes`` maps URLs to handlers and renders Ticketmaster's error bodies (Apigee ``fault``
for 401 and 429, Discovery ``errors[]`` for 400, 404 and paging past 1,000 results);
``objects`` builds the JSON objects from the world (events, venues, attractions, offers,
picks); ``fastjson`` renders a page of picks straight from the listing columns.
"""
