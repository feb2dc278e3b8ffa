"""When an engineer can work on a planned day: the shift's stretches less their absences."""

from __future__ import annotations

from collections.abc import Iterable

# Minutes since the plan's origin, [start, end).
Stretch = tuple[int, int]


def available_stretches(shift: Iterable[Stretch], away: Iterable[Stretch]) -> list[Stretch]:
    """The parts of the shift's stretches outside every absence, in order.

    An absence over a whole stretch removes it; one inside a stretch splits it (the gap then
    plans like the break between two stretches of a split shift); one over an end cuts it.
    """
    absences = sorted(away)
    result: list[Stretch] = []
    for start, end in sorted(shift):
        pieces = [(start, end)]
        for away_start, away_end in absences:
            kept: list[Stretch] = []
            for piece_start, piece_end in pieces:
                if away_end <= piece_start or away_start >= piece_end:
                    kept.append((piece_start, piece_end))
                    continue
                if piece_start < away_start:
                    kept.append((piece_start, away_start))
                if away_end < piece_end:
                    kept.append((away_end, piece_end))
            pieces = kept
        result.extend(pieces)
    return sorted(result)
