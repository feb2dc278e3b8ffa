"""Reports a service company sends and reads: the monthly SLA statement, first of them."""
