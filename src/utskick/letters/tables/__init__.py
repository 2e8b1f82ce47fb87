"""Tables of letters and recipients as offices keep them in Excel: read, mapped and checked.

`reading` reads a CSV or XLSX file row by row with the row numbers Excel shows; `columns` tells
which column is what from the header names; `rows` checks the values of a row; `letter_rows`
makes a row into a letter; `cells` writes a text into a table so that a spreadsheet shows it
and never runs it as a formula. The desk's mass mailing and the intake's table batches share
them.
"""
