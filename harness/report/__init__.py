"""Reporting: the results table, the experiments document, its pictures and the benchmarks'
figures. The only side that prints or draws."""
