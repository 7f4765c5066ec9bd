"""Price history: bucketed per event or section, and every price of one listing."""
