"""The market-data use cases: the quote pipeline (every quote, from any feed) and the instrument
announcer."""
