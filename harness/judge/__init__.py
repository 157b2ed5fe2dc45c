"""The judge's side: holds the rules and the test labels, vets candidate files, starts the
sandboxed runners, counts the budget from what they traced and scores what they hand in.
No candidate code runs in these modules' process."""
