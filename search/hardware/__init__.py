"""Measuring this device and pricing subnets: timing, the lookup table (``green-lut``) and the cost model."""
