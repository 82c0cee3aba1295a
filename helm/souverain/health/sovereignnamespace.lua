-- Argo CD health of a souverain.io SovereignNamespace, from its Ready condition.
-- Healthy when the operator has observed the current generation and reports Ready;
-- Progressing while it has not, or while it reconciles; Degraded when it reports why
-- the namespace is not enforced (profile missing, egress outside the profile...).
local hs = {status = "Progressing", message = "Waiting for the souverain operator"}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Being deleted"
  return hs
end
if obj.status == nil then
  return hs
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local progressing = {Reconciling = true}
for _, condition in ipairs(obj.status.conditions or {}) do
  if condition.type == "Ready" then
    local text = (condition.reason or "") .. ": " .. (condition.message or "")
    if condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message or "Ready"
    elseif condition.status == "False" and not progressing[condition.reason or ""] then
      hs.status = "Degraded"
      hs.message = text
    else
      hs.message = text
    end
    return hs
  end
end
return hs
