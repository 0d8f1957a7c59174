"""The domain: parsing payloads, checking them, planning which days load, ingesting them, rosters of users."""
