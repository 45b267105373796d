"""A tabular binary classifier (Cloud ML Engine layout)."""
