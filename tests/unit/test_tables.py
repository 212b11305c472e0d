"""Table 1 and Table 2 and their markdown rendering."""

import math

from facetransfer.tracking.tables import table_1, table_2, to_markdown


def _cells(markdown: str) -> list[list[str]]:
    lines = markdown.strip().splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[:1] + lines[2:]]


def test_table_1_markdown_formats_numbers_and_missing_values() -> None:
    frame = table_1(
        [
            {
                "backbone": "resnet50",
                "parameters": 15_367_262,
                "test": {"pixel_accuracy": 0.91234, "miou": 0.5},
            },
            {"backbone": "other", "parameters": 1234, "test": {"pixel_accuracy": 0.5, "miou": math.nan}},
        ]
    )
    rows = _cells(to_markdown(frame))
    assert rows[0] == [
        "Backbone",
        "Number of parameters",
        "Accuracy",
        "mIoU",
        "Paper parameters",
        "Paper accuracy",
    ]
    assert rows[1] == ["ResNet50", "15,367,262", "0.9123", "0.5000", "15,411,966", "0.9539"]
    assert rows[2] == ["other", "1,234", "0.5000", "n/a", "n/a", "n/a"]


def test_table_2_orders_variants_and_labels_them_as_the_paper() -> None:
    overall = {"accuracy": 0.9, "precision": 0.8, "recall": 0.7, "f1": 0.75, "roc_auc": 0.95}
    reports = [
        {"backbone": "mobilenet_v3_large", "variant": variant, "test": {"overall": overall}}
        for variant in ("all", "none", "last")
    ]
    rows = _cells(to_markdown(table_2(reports), float_format=".2f"))
    assert [row[:2] for row in rows[1:]] == [
        ["MobileNetV3 Large", "—"],
        ["MobileNetV3 Large", "Last"],
        ["MobileNetV3 Large", "All"],
    ]
    assert rows[1][2:] == ["0.90", "0.80", "0.70", "0.75", "0.95"]
