"""Page labels and file names as numbered sequences, to find leaves that were skipped.

A label such as ``卷一 葉三上`` is read as prefix ``卷一 葉``, number 3 and side 上
(recto); ``葉三上`` → ``葉五上`` skips three sides. Chinese numerals (一 … 九十九,
百, 〇-style digit strings) and Arabic digits (also full-width) are understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERALS = "〇一二三四五六七八九"
_NUMBER = re.compile(r"[0-9０-９]+|[〇零一二兩三四五六七八九十百千]+")
_SIDES = {"上": 0, "下": 1, "a": 0, "b": 1, "A": 0, "B": 1}
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass(frozen=True)
class LabelNumber:
    """Where a label sits in its sequence."""

    prefix: str  # the text before the number, as written
    number: int
    side: int | None  # 0 recto (上, a), 1 verso (下, b), None when leaves are not sided
    chinese: bool
    suffix: str = ""  # text after the number and side, e.g. 頁

    @property
    def index(self) -> int:
        return self.number * 2 + self.side if self.side is not None else self.number

    def follows(self, other: LabelNumber) -> bool:
        """Return whether both labels number the same sequence."""
        same_text = _squeeze(self.prefix + "|" + self.suffix) == _squeeze(other.prefix + "|" + other.suffix)
        return same_text and (self.side is None) == (other.side is None)

    def label_at(self, index: int) -> str:
        """Return the label of another position in this sequence, in the same style."""
        if self.side is None:
            return self.prefix + (to_chinese(index) if self.chinese else str(index)) + self.suffix
        number, side = divmod(index, 2)
        text = to_chinese(number) if self.chinese else str(number)
        return self.prefix + text + ("上下" if self.chinese else "ab")[side] + self.suffix


def parse_label(label: str) -> LabelNumber | None:
    """Read the last number of a label (and a 上/下 or a/b side after it); None if it has none."""
    matches = list(_NUMBER.finditer(label))
    if not matches:
        return None
    last = matches[-1]
    text, after = last.group(), label[last.end():].strip()
    chinese = not text.translate(_FULL_WIDTH).isdigit()
    number = chinese_number(text) if chinese else int(text.translate(_FULL_WIDTH))
    side = _SIDES.get(after[:1]) if after else None
    if side is not None and after[:1] in "aAbB" and chinese:
        side = None  # "a"/"b" mark sides only after Arabic page numbers
    suffix = after[1:] if side is not None else after
    return LabelNumber(label[: last.start()], number, side, chinese, suffix)


def chinese_number(text: str) -> int:
    """Return the value of a Chinese numeral: 十一 = 11, 一百零五 = 105, 一〇五 = 105."""
    if len(text) > 1 and all(ch in _DIGITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        else:
            total += (current or 1) * _UNITS[ch]
            current = 0
    return total + current


def to_chinese(number: int) -> str:
    """Return the usual Chinese numeral for 0-999 (十一, 二十, 一百零五); Arabic digits above."""
    if number < 10:
        return _NUMERALS[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return ("" if tens == 1 else _NUMERALS[tens]) + "十" + (_NUMERALS[ones] if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        head = _NUMERALS[hundreds] + "百"
        if rest == 0:
            return head
        return head + ("零" + _NUMERALS[rest] if rest < 10 else ("一" if rest < 20 else "") + to_chinese(rest))
    return str(number)


def file_number(file: str) -> tuple[str, int] | None:
    """Return (folder and name without the number, number) for a name like ``scans/IMG_0042.tif``."""
    path = PurePosixPath(file)
    matches = list(re.finditer(r"\d+", path.stem))
    if not matches:
        return None
    last = matches[-1]
    return f"{path.parent}/{path.stem[: last.start()]}|{path.suffix.lower()}", int(last.group())


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)
