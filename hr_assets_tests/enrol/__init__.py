"""The enrolment pages (the one public surface) and the invitations behind them: pages, database, proxy, browser."""
