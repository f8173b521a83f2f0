import type { App } from 'vue'
import { createRouter, createWebHistory, START_LOCATION, type RouteRecordRaw } from 'vue-router'
import { setUnauthorizedHandler } from '@/api/http'
import { useAuthStore } from '@/stores/auth'

const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('@/views/login/index.vue'), meta: { public: true } },
  { path: '/register', name: 'register', component: () => import('@/views/register/index.vue'), meta: { public: true } },
  {
    path: '/',
    component: () => import('@/layouts/AppLayout.vue'),
    children: [
      { path: '', name: 'home', component: () => import('@/views/home/index.vue') },
      { path: 'devices', name: 'devices', component: () => import('@/views/devices/index.vue') },
      { path: 'devices/:id', name: 'device', component: () => import('@/views/device/index.vue'), props: true },
      { path: 'claim', name: 'claim', component: () => import('@/views/claim/index.vue') },
      { path: 'automations', name: 'automations', component: () => import('@/views/automations/index.vue') },
      { path: 'scenes', name: 'scenes', component: () => import('@/views/scenes/index.vue') },
      { path: 'alerts', name: 'alerts', component: () => import('@/views/alerts/index.vue') },
      { path: 'reports', name: 'reports', component: () => import('@/views/reports/index.vue') },
      { path: 'groups', name: 'groups', component: () => import('@/views/groups/index.vue') },
      { path: 'apps', name: 'apps', component: () => import('@/views/apps/index.vue') },
      { path: 'firmware', name: 'firmware', component: () => import('@/views/firmware/index.vue') },
      { path: 'discovered', name: 'discovered', component: () => import('@/views/discovered/index.vue') },
      { path: 'sites', name: 'sites', component: () => import('@/views/sites/index.vue') },
      { path: 'link', name: 'link', component: () => import('@/views/link/index.vue'), meta: { admin: true } },
      { path: 'audit', name: 'audit', component: () => import('@/views/audit/index.vue'), meta: { admin: true } },
      { path: 'profile', name: 'profile', component: () => import('@/views/profile/index.vue') },
    ],
  },
  { path: '/:rest(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  const auth = useAuthStore()
  if (!auth.checked) await auth.load()
  if (to.meta.public) return auth.loggedIn && (to.name === 'login' || to.name === 'register') ? { name: 'home' } : true
  if (!auth.loggedIn) return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
  if (to.meta.admin && !auth.user?.is_admin) return { name: 'home' }
  return true
})

export function setupRouter(app: App): void {
  setUnauthorizedHandler(() => {
    const auth = useAuthStore()
    auth.clear()
    const current = router.currentRoute.value
    // During the first navigation (a link opened while signed out, such as a device
    // label's /claim?d=...&c=...), the guard sends to the login page itself, keeping
    // where the person was going; pushing here too would lose it.
    if (current === START_LOCATION) return
    if (current.name !== 'login') {
      void router.push({ name: 'login', query: current.fullPath === '/' ? {} : { redirect: current.fullPath } })
    }
  })
  app.use(router)
}
