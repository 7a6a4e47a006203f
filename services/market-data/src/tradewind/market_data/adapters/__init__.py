"""What the market-data service talks to: its database (bars, outbox), Redis (latest quotes), the
quote simulator, the bar writer."""
