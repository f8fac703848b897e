# How results appear in the HTML report (snakemake --report): every view (category/subcategory) lists
# items with the same label columns, so each view is one filled table.


def table_report(path, category, table, caption):
    """A table in the report: its HTML twin shows in the page (Snakemake renders HTML inline), the CSV
    is the download of the same numbers."""
    shown = "HTML, shown in the page" if path.endswith(".html") else "CSV, download"
    return report(
        path, category=category, subcategory="Tables", labels={"table": table, "format": shown}, caption=caption
    )


def figure_report(path, category, figure, caption, **options):
    """A figure of the aggregation (grid plots, leaderboard) in its category's Figures view."""
    return report(path, category=category, subcategory="Figures", labels={"figure": figure}, caption=caption, **options)
