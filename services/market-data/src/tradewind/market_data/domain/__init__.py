"""The market-data rules, pure (no I/O, no clock): what a valid quote is, how quotes make bars."""
