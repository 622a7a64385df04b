"""Permission codenames of the routing app.

Skills and regions are shared configuration (only a grant at "all" changes them). Agent
profiles and team routing follow the team: a manager at "my teams" configures their own teams'.
"""

VIEW_SKILL = "routing.view_skill"
ADD_SKILL = "routing.add_skill"
CHANGE_SKILL = "routing.change_skill"
DELETE_SKILL = "routing.delete_skill"

VIEW_REGION = "routing.view_region"
ADD_REGION = "routing.add_region"
CHANGE_REGION = "routing.change_region"
DELETE_REGION = "routing.delete_region"

VIEW_PROFILE = "routing.view_agentprofile"
CHANGE_PROFILE = "routing.change_agentprofile"

VIEW_TEAM_ROUTING = "routing.view_teamrouting"
CHANGE_TEAM_ROUTING = "routing.change_teamrouting"

SET_OWN_AVAILABILITY = "routing.set_own_availability"
GET_NEXT = "routing.get_next_ticket"
VIEW_QUEUE = "routing.view_queue"
