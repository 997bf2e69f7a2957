//! Open vSwitch's database (placeholder: being written).
