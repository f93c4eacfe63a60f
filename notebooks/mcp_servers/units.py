"""A small MCP server that converts units, for the mcp.ipynb example.

Run it as any stdio MCP server: ``python mcp_servers/units.py``. Built with the
official ``mcp`` SDK; two tools.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("units")

# factor to the base unit (metre, kilogram, second)
FACTORS = {
    "mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "in": 0.0254, "ft": 0.3048, "mi": 1609.344,
    "g": 0.001, "kg": 1.0, "lb": 0.45359237, "oz": 0.028349523125,
    "s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0,
}  # fmt: skip
KINDS = {
    "length": {"mm", "cm", "m", "km", "in", "ft", "mi"},
    "mass": {"g", "kg", "lb", "oz"},
    "time": {"s", "min", "h", "day"},
}


def _kind(unit: str) -> str:
    for kind, units in KINDS.items():
        if unit in units:
            return kind
    raise ValueError(f"unknown unit {unit!r}; known: {', '.join(sorted(FACTORS))}, C, F")


@server.tool()
def convert(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a quantity between units of length, mass, time or temperature (C, F)."""
    if {from_unit, to_unit} <= {"C", "F"}:
        result = value if from_unit == to_unit else (value * 9 / 5 + 32 if from_unit == "C" else (value - 32) * 5 / 9)
    else:
        if _kind(from_unit) != _kind(to_unit):
            raise ValueError(f"cannot convert {_kind(from_unit)} ({from_unit}) to {_kind(to_unit)} ({to_unit})")
        result = value * FACTORS[from_unit] / FACTORS[to_unit]
    return f"{value:g} {from_unit} = {result:.6g} {to_unit}"


@server.tool()
def list_units() -> str:
    """The units convert() knows, by kind."""
    lines = [f"{kind}: {', '.join(sorted(units))}" for kind, units in KINDS.items()]
    return "\n".join([*lines, "temperature: C, F"])


if __name__ == "__main__":
    server.run()
