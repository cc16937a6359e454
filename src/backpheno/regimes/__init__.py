"""Exports for dynamic-treatment-regime (DTR) models."""

from backpheno.regimes.export import RegimeExportSettings, export_regime, smart_table

__all__ = ["RegimeExportSettings", "export_regime", "smart_table"]
