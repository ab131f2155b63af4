"""The CSV export's guard against spreadsheet formulas, cell by cell."""

from labelwise.project.export import spreadsheet_safe


def test_cells_that_a_spreadsheet_would_run_are_prefixed():
    for cell in ('=HYPERLINK("http://x","y")', "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(cell) == "'" + cell
    for cell in ("Bag", "a=b", "", None, -0.5, 3):
        assert spreadsheet_safe(cell) == cell
