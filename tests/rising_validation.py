"""A tiny detector problem whose validation loss rises every epoch, for early-stopping tests.

The validation labels are the training labels inverted: the better the model fits its training
data, the worse its validation loss, so early stopping (patience 2) would end a run after epoch 3.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class TinyLinear(nn.Module):
    """One linear layer on two features, one logit per row."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x).squeeze(1)


def rising_validation_problem() -> tuple[TinyLinear, DataLoader, DataLoader]:
    """A freshly initialised ``TinyLinear`` (seed 0) with its training and validation loaders."""
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 8)
    labels = torch.tensor([1.0, 0.0] * 8)
    train = DataLoader(TensorDataset(features, labels), batch_size=4)
    val = DataLoader(TensorDataset(features, 1 - labels), batch_size=4)
    torch.manual_seed(0)
    return TinyLinear(), train, val
