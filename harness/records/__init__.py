"""Run records: the data of one run and its verdict, their files on disk and the text logs
kept beside them."""
