-- Argo CD health of a souverain.io ResidentVolume, from its Ready condition.
-- Healthy when the operator has observed the current generation and reports the
-- volume bound and resident; Progressing while the claim waits for its first consumer
-- or for a volume, or while the operator has not caught up; Degraded when the data is
-- or would be outside the profile's topology (class not allowed, volume elsewhere...).
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
local progressing = {Reconciling = true, ClaimPending = true, TopologyUnknown = true}
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
