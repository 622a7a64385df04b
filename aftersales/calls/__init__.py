"""Phone calls (#7 item 5): agents log inbound and outbound calls on a ticket, or open a ticket
from a call; telephony systems post their calls (with a recording link) through the API; a
click-to-call link next to the customer's numbers when the PBX offers one."""
