# Every variable but atlas_org_id and braintrust_service_account_id may stay null: the provider
# then reads the backend's environment variables (named in each description).

variable "atlas_org_id" {
  description = "The Atlas organization (24 hexadecimal digits) the Atlas keys are created in."
  type        = string
}

variable "atlas_base_url" {
  description = "Atlas Administration API base URL; null: MONGODB_ATLAS_BASE_URL or https://cloud.mongodb.com."
  type        = string
  default     = null
}

variable "atlas_public_key" {
  description = "Public half of the Atlas API key Terraform authenticates with; null: MONGODB_ATLAS_PUBLIC_API_KEY."
  type        = string
  default     = null
}

variable "atlas_private_key" {
  description = "Private half of that key; null: MONGODB_ATLAS_PRIVATE_API_KEY."
  type        = string
  default     = null
  sensitive   = true
}

variable "env0_base_url" {
  description = "env0 API base URL; null: ENV0_API_ENDPOINT or https://api.env0.com."
  type        = string
  default     = null
}

variable "env0_api_key_id" {
  description = "env0 API key id; null: ENV0_API_KEY."
  type        = string
  default     = null
}

variable "env0_api_key_secret" {
  description = "env0 API key secret; null: ENV0_API_SECRET."
  type        = string
  default     = null
  sensitive   = true
}

variable "braintrust_base_url" {
  description = "Braintrust API base URL; null: BRAINTRUST_API_URL or https://api.braintrust.dev."
  type        = string
  default     = null
}

variable "braintrust_api_key" {
  description = "Braintrust service token with organization-owner permissions (it creates the service token); null: BRAINTRUST_API_KEY."
  type        = string
  default     = null
  sensitive   = true
}

variable "braintrust_org_name" {
  description = "Braintrust organization the service token is created in; null: BRAINTRUST_ORG_NAME or the credential's own."
  type        = string
  default     = null
}

variable "braintrust_service_account_id" {
  description = "The Braintrust service account (a UUID) the service token belongs to."
  type        = string
}

variable "traceloop_base_url" {
  description = "Traceloop API base URL; null: TRACELOOP_BASE_URL or https://api.traceloop.com."
  type        = string
  default     = null
}

variable "traceloop_api_key" {
  description = "Traceloop API key allowed to create organizations; null: TRACELOOP_API_KEY."
  type        = string
  default     = null
  sensitive   = true
}
