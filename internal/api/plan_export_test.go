package api

// PlanSlot lets tests hold a plan evaluation slot.
func (s *Server) PlanSlot() (release func(), err error) { return s.planSlot() }
