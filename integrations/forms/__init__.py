"""Forms, one module per area; a service's ValidationError maps back onto the form."""
