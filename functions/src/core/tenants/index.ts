/** Public face of the tenants capability. */
export { ADMIN_SCOPE, TENANT_ID_PATTERN, TenantSchema, TenantsSchema, actingTenant, canSee, createTenantDirectory, listFilter, tenantDestinations, tenantOfTopic, tenantScope, tenantTopic, topicOfSource } from './tenants.ts';
export type { Scope, Tenant, TenantDirectory } from './tenants.ts';
