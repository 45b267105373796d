"""The taxi-fare regression trainer (Cloud ML Engine layout)."""
