"""Which airline a tweet addresses, from its handle (@united) or its name (United, Air Paradis): one short key."""

from __future__ import annotations

import re

# key -> (Twitter handles, names as written in a tweet). Handles match in any case; names match capitalised
# as written, since "united", "delta" or "spirit" in lower case are ordinary words.
AIRLINES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "airparadis": (("airparadis", "air_paradis"), ("Air Paradis", "AirParadis")),
    "united": (("united",), ("United Airlines", "United")),
    "american": (("americanair", "american"), ("American Airlines", "AmericanAir")),
    "delta": (("delta", "deltaassist"), ("Delta Air Lines", "Delta")),
    "southwest": (("southwestair",), ("Southwest Airlines", "Southwest")),
    "jetblue": (("jetblue",), ("JetBlue", "Jetblue")),
    "usairways": (("usairways",), ("US Airways", "USAirways")),
    "virginamerica": (("virginamerica",), ("Virgin America",)),
    "alaska": (("alaskaair",), ("Alaska Airlines",)),
    "spirit": (("spiritairlines", "spiritair"), ("Spirit Airlines",)),
    "frontier": (("flyfrontier",), ("Frontier Airlines",)),
    "hawaiian": (("hawaiianair",), ("Hawaiian Airlines",)),
    "allegiant": (("allegiant",), ("Allegiant Air", "Allegiant")),
}

_HANDLES = {handle: key for key, (handles, _) in AIRLINES.items() for handle in handles}
_HANDLE = re.compile(r"@(\w{1,15})")
_NAME_KEYS = {name: key for key, (_, names) in AIRLINES.items() for name in names}
# One pass over the text: the leftmost name wins, and at one position the alternatives are tried in the table's
# order (a longer name before its prefix: "United Airlines", then "United").
_NAME = re.compile(r"(?<![\w@])(?:" + "|".join(re.escape(name) for name in _NAME_KEYS) + r")(?!\w)")


def detect_airline(text: str) -> str | None:
    """The airline the tweet addresses first (a handle before a name), or None."""
    for match in _HANDLE.finditer(text):
        key = _HANDLES.get(match.group(1).lower())
        if key is not None:
            return key
    match = _NAME.search(text)
    return _NAME_KEYS[match.group()] if match else None
