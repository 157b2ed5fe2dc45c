"""The runner's side: the two sandboxed processes the judge starts. The builder is the only
process that runs candidate code (build, trace, export); the trainer trains and evaluates the
traced programs and never imports a candidate. Nothing here imports the judge's side."""
